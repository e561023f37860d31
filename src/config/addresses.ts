/** Addresses and URLs the service listens on or connects to, parsed as the original took them. */
import proxyAddr from '@fastify/proxy-addr';
import { ConfigError } from './config-error.js';
import type { RedisConfig } from './types.js';

/**
 * PORT as the original (Go's net.Listen) took it: `:3000`, `3000`, `127.0.0.1:3000`,
 * `[::1]:3000`. The host, when there is one, is returned too.
 */
export function parseListen(text: string, name = 'PORT'): { host: string | null; port: number } {
  const bad = (): never => {
    throw new ConfigError(
      `config: ${name} = ${JSON.stringify(text)} is invalid: expected a port such as :3000, 3000 or 127.0.0.1:3000`,
    );
  };
  const t = text.trim();
  let host = '';
  let portText = t;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(.*)$/.exec(t);
  if (v6) [, host = '', portText = ''] = v6;
  else if (t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i);
    portText = t.slice(i + 1);
    if (host.includes(':') || /\s/.test(host)) bad();
  }
  if (!/^\d{1,5}$/.test(portText) || Number(portText) > 65535) bad();
  return { host: host === '' ? null : host, port: Number(portText) };
}

export function metricsListen(text: string): { host: string; port: number } | null {
  if (text.trim() === '') return null;
  const { host, port } = parseListen(text, 'metrics.listen (METRICS_LISTEN)');
  return { host: host ?? '0.0.0.0', port };
}

export function parsePort(text: string): number {
  return parseListen(text).port;
}

/** `host:port` as the original took it, or a `redis://` / `rediss://` URL. */
export function parseRedisUri(uri: string, password: string, dbText: string): RedisConfig {
  const db = Number(dbText === '' ? '0' : dbText);
  if (!Number.isInteger(db) || db < 0) {
    throw new ConfigError(
      `config: REDIS_DB = ${JSON.stringify(dbText)} is invalid: expected a whole number >= 0`,
    );
  }
  const bad = (): never => {
    throw new ConfigError(
      'config: REDIS_URI (value not shown: it may hold a password) is invalid: expected host:port or redis://[user:password@]host:port[/db]',
    );
  };
  if (/^rediss?:\/\//.test(uri)) {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return bad();
    }
    const path = u.pathname.replace(/^\//, '');
    const urlDb = path === '' ? null : Number(path);
    if (urlDb !== null && (!Number.isInteger(urlDb) || urlDb < 0)) bad();
    return {
      host: u.hostname || '127.0.0.1',
      port: u.port ? Number(u.port) : 6379,
      password: password || decodeURIComponent(u.password),
      username: decodeURIComponent(u.username),
      db: urlDb ?? db,
      tls: u.protocol === 'rediss:',
    };
  }
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(uri) ?? /^([^:]+)$/.exec(uri);
  if (!m || !m[1]) return bad();
  const port = m[2] !== undefined ? Number(m[2]) : 6379;
  if (port < 1 || port > 65535) bad();
  return { host: m[1], port, password, username: '', db, tls: false };
}

/** `api.trustProxy` items, each checked by proxy-addr (the library Fastify reads X-Forwarded-For with). */
export function trustedProxies(items: string[]): string[] {
  for (const item of items) {
    try {
      proxyAddr.compile([item]);
    } catch {
      throw new ConfigError(
        `config: api.trustProxy (env API_TRUST_PROXY) item ${JSON.stringify(item)} is invalid: expected an IP address, a CIDR range (10.0.0.0/8) or loopback, linklocal, uniquelocal`,
      );
    }
  }
  return items;
}
