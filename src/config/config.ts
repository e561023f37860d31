import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { CONFIG_KEYS, envOr, type ChoiceOf, type KeySpec, type Lookups } from './keys.js';
import { parseDuration } from './duration.js';
import { redact, secretList, secretParts, secretsOf } from './redact.js';
import { ConfigError } from './config-error.js';
import { authConfig, corsOrigins, type AuthConfig } from './auth-config.js';
import { tracingConfig, type TracingConfig } from './tracing-config.js';
import proxyAddr from '@fastify/proxy-addr';

export type StoreKind = 'sqlite' | 'postgres' | 'mongodb';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export interface StoreConfig {
  kind: StoreKind;
  sqlitePath: string;
  databaseUrl: string;
  /** PostgreSQL schema holding the tables */
  databaseSchema: string;
  mongodbUri: string;
  mongoDbName: string;
  mongoCollection: string;
}

export interface RedisConfig {
  host: string;
  port: number;
  password: string;
  db: number;
  tls: boolean;
  username: string;
}

export type DeliveryMode = ChoiceOf<'delivery.mode'>;
export type NodeRole = ChoiceOf<'node.role'>;

/** The bytes of a webhook body: Go's `json.Marshal` escaping (`go`) or plain JSON (src/delivery/webhook-body.ts). */
export type BodyEscaping = ChoiceOf<'webhookClient.bodyEscaping'>;

export interface Config {
  host: string;
  port: number;
  store: StoreConfig;
  redis: RedisConfig | null;
  worker: { jobIntervalMs: number };
  seedAtStart: boolean;
  /** signingSecrets: the first signs alone; several sign every request once each (rotation) */
  webhook: { url: string; timeoutMs: number; signingSecrets: string[]; bodyEscaping: BodyEscaping };
  cache: { ttlMs: number; keyPrefix: string };
  pool: {
    numWorkers: number;
    timeoutMs: number;
    initialRunning: boolean;
    leaseMs: number;
    deliveryThreads: number;
    heartbeatMs: number;
    nodeTimeoutMs: number;
    stateSyncMs: number;
  };
  rateLimiter: { enabled: boolean; maxTokens: number; refillRate: number; refillIntervalMs: number };
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  deliveryMode: DeliveryMode;
  role: NodeRole;
  /** `listen`: a listener of its own for GET /metrics, without authentication (null: none) */
  metrics: { enabled: boolean; countIntervalMs: number; listen: { host: string; port: number } | null };
  /** OpenTelemetry traces, from the standard OTEL_* variables (null: off, the default) */
  tracing: TracingConfig | null;
  api: {
    bodyLimit: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    maxConnectionsPerClient: number;
    /** on an `all` node while delivering: requests worked on at once (0: no bound) */
    maxConcurrentRequests: number;
    maxConcurrentRequestsPerClient: number;
    /** browser origins allowed by CORS (empty: CORS off) */
    corsOrigins: string[];
    /** accepted Host header values, lower case (empty: any) */
    allowedHosts: string[];
    /** proxies whose X-Forwarded-For is believed (addresses, CIDRs, proxy-addr keywords) */
    trustProxy: string[];
  };
  auth: AuthConfig;
  apiRateLimiter: { enabled: boolean; maxTokens: number; refillRate: number; refillIntervalMs: number };
  logLevel: LogLevel;
  /** every secret value the config holds (settings flagged `secret`): what the logger redacts */
  secrets: readonly string[];
  /** where the file config came from, or null when none was found */
  configFile: string | null;
  /** keys in the file that this version does not know */
  unknownKeys: string[];
  /** `<env>.yml` when `<env>.yaml` is there too (that one is read). */
  ignoredConfigFile: string | null;
}

export { ConfigError };

type Raw = Record<string, unknown>;
type Env = Record<string, string | undefined>;

function flatten(obj: unknown, prefix = '', out: Map<string, unknown> = new Map()): Map<string, unknown> {
  if (obj !== null && typeof obj === 'object' && !Array.isArray(obj)) {
    for (const [k, v] of Object.entries(obj as Raw)) {
      const path = prefix ? `${prefix}.${k}` : k;
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) flatten(v, path, out);
      else out.set(path, v);
    }
  }
  return out;
}

/**
 * The one line a bad setting stops start-up with. A setting that can hold a secret (marked
 * `secret`, or any URL: a password may sit in it) never shows its value: a value that failed to
 * parse cannot be redacted reliably (a password holding `#`, `/`, `?`, `"` or `@` defeats any
 * pattern), so it is not shown at all.
 */
function fail(spec: KeySpec, source: string, value: unknown, expected: string): never {
  const hidden = spec.secret === true || spec.type === 'url';
  const shown = hidden ? '(value not shown: it may hold a secret)' : (JSON.stringify(value) ?? String(value));
  throw new ConfigError(`config: ${spec.key} (${source}) = ${shown} is invalid: expected ${expected}`);
}

type Value = string | number | boolean | string[];

function coerce(spec: KeySpec, value: unknown, source: string): Value {
  const range = (n: number, what: string): number => {
    if (spec.min !== undefined && n < spec.min) fail(spec, source, value, `${what} >= ${spec.min}`);
    if (spec.max !== undefined && n > spec.max) fail(spec, source, value, `${what} <= ${spec.max}`);
    return n;
  };
  switch (spec.type) {
    case 'duration': {
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) {
        // a bare number in YAML is taken as milliseconds
        return range(value, 'a duration');
      }
      const ms = typeof value === 'string' ? parseDuration(value) : null;
      if (ms === null) fail(spec, source, value, 'a duration such as 100ms, 30s, 2m or 24h');
      const minText = spec.min !== undefined ? ` of at least ${spec.min}ms` : '';
      if (spec.min !== undefined && ms < spec.min) fail(spec, source, value, `a duration${minText}`);
      return ms;
    }
    case 'int':
    case 'number': {
      const n =
        typeof value === 'number'
          ? value
          : typeof value === 'string' && value.trim() !== ''
            ? Number(value)
            : NaN;
      if (!Number.isFinite(n) || (spec.type === 'int' && !Number.isInteger(n))) {
        fail(spec, source, value, spec.type === 'int' ? 'a whole number' : 'a number');
      }
      return range(n, 'a number');
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      const t = String(value).trim().toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(t)) return true;
      if (['false', '0', 'no', 'off'].includes(t)) return false;
      return fail(spec, source, value, 'true or false');
    }
    case 'url': {
      const t = String(value);
      if (t === '' && spec.optional) return '';
      try {
        const u = new URL(t);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
      } catch {
        fail(spec, source, value, 'an http:// or https:// URL');
      }
      return t.replace(/\/+$/, '');
    }
    case 'level': {
      const t = String(value).trim().toLowerCase();
      if (!LEVELS.includes(t)) fail(spec, source, value, `one of ${LEVELS.join(', ')}`);
      return t;
    }
    case 'string':
      if (typeof value !== 'string' && typeof value !== 'number') fail(spec, source, value, 'a string');
      return String(value);
    case 'choice': {
      const t = String(value).trim().toLowerCase();
      const choices = spec.choices ?? [];
      if (!choices.includes(t)) fail(spec, source, value, `one of ${choices.join(', ')}`);
      return t;
    }
    case 'list': {
      let items: string[];
      if (Array.isArray(value)) {
        if (!value.every((v) => typeof v === 'string' || typeof v === 'number'))
          fail(spec, source, value, 'a list of strings');
        items = value.map((v) => String(v).trim()).filter((v) => v !== '');
      } else if (typeof value === 'string') {
        items = value.split(/\s+/).filter((v) => v !== '');
      } else return fail(spec, source, value, 'a list, or a string of space-separated items');
      const choices = spec.choices;
      if (choices) {
        const bad = items.find((v) => !choices.includes(v));
        if (bad !== undefined) fail(spec, source, value, `items from ${choices.join(', ')} (not ${bad})`);
      }
      return items;
    }
  }
}

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

function metricsListen(text: string): { host: string; port: number } | null {
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
function trustedProxies(items: string[]): string[] {
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

function pick(values: Map<string, Value>, key: string): Value {
  const v = values.get(key);
  if (v === undefined) throw new Error(`config key ${key} has no value`);
  return v;
}

/**
 * Loads the config: defaults, then the YAML file, then environment variables.
 * Throws ConfigError with one line naming the key, the value and what was expected.
 */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  try {
    return load(env, cwd);
  } catch (err) {
    // one redaction for every message, whatever produced it
    if (err instanceof ConfigError) throw new ConfigError(redact(err.message, secretsOf(env)));
    throw err;
  }
}

/** The config with every default and nothing else: no file, no environment (the defaults' one source). */
export function defaultConfig(): Config {
  return load({}, null);
}

function load(env: Env, cwd: string | null): Config {
  const configPath = envOr(env, 'CONFIG_PATH');
  const configEnv = envOr(env, 'CONFIG_ENV');
  // an absolute CONFIG_PATH (a mounted volume) is kept; a relative one is under the working directory.
  // `.yaml` or `.yml`, as the original (viper) found either; both there: `.yaml`, as viper chose,
  // and the other is named in a warning
  const yaml = cwd === null ? '' : resolve(cwd, configPath, `${configEnv}.yaml`);
  const yml = cwd === null ? '' : resolve(cwd, configPath, `${configEnv}.yml`);
  const file = existsSync(yaml) || !existsSync(yml) ? yaml : yml;
  const ignoredConfigFile = file === yaml && existsSync(yml) ? yml : null;
  let fileValues = new Map<string, unknown>();
  let configFile: string | null = null;
  if (cwd !== null && existsSync(file)) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new ConfigError(`config: ${file} is not valid YAML: ${(err as Error).message.split('\n')[0]}`);
    }
    if (parsed !== null && parsed !== undefined && (typeof parsed !== 'object' || Array.isArray(parsed))) {
      throw new ConfigError(`config: ${file} must hold a mapping of sections (worker:, pool:, ...)`);
    }
    fileValues = flatten(parsed ?? {});
    configFile = file;
  } else if (cwd !== null && (env.CONFIG_PATH || env.CONFIG_ENV)) {
    throw new ConfigError(`config: CONFIG_PATH/CONFIG_ENV point at ${file} (or .yml), which does not exist`);
  }

  const known = new Set<string>(CONFIG_KEYS.map((k) => k.key));
  const unknownKeys = [...fileValues.keys()].filter((k) => !known.has(k));

  const values = new Map<string, Value>();
  for (const spec of CONFIG_KEYS) {
    const fromEnv = env[spec.env];
    let v: Value;
    const envCounts =
      fromEnv !== undefined && (fromEnv !== '' || ('emptyEnvIsValue' in spec && spec.emptyEnvIsValue));
    if (envCounts) v = coerce(spec, fromEnv, `env ${spec.env}`);
    else if (fileValues.has(spec.key) && fileValues.get(spec.key) !== null) {
      v = coerce(spec, fileValues.get(spec.key), configFile ?? 'file');
    } else v = coerce(spec, spec.default, 'default');
    values.set(spec.key, v);
  }

  const lookups: Lookups = {
    num: (k) => pick(values, k) as number,
    bool: (k) => pick(values, k) as boolean,
    str: (k) => pick(values, k) as string,
    list: (k) => pick(values, k) as string[],
    choice: <K extends Parameters<Lookups['choice']>[0]>(k: K) => pick(values, k) as ChoiceOf<K>,
  };
  const { num, bool, str, list, choice } = lookups;
  // every value of a setting flagged secret, from the file or the environment: the logger redacts them
  const secrets = secretList([
    ...secretsOf(env),
    ...CONFIG_KEYS.flatMap((spec) => {
      const v = 'secret' in spec ? values.get(spec.key) : undefined;
      return 'secret' in spec && (typeof v === 'string' || Array.isArray(v))
        ? secretParts(spec.secret, v as string | string[])
        : [];
    }),
  ]);

  let webhookUrl = env.WEBHOOK_URL || `${str('webhookClient.host')}${str('webhookClient.path')}`;
  try {
    const u = new URL(webhookUrl);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('protocol');
    webhookUrl = u.toString();
  } catch {
    throw new ConfigError(
      `config: the webhook URL (${env.WEBHOOK_URL ? 'WEBHOOK_URL' : 'webhookClient.host + webhookClient.path'}; value not shown: it may hold a password) is invalid: expected an http(s) URL`,
    );
  }
  const signingSecrets = list('webhookClient.signingSecret');
  const badSecret = signingSecrets.findIndex((x) => !/^whsec_[A-Za-z0-9+/]+={0,2}$/.test(x));
  if (badSecret >= 0) {
    throw new ConfigError(
      `config: webhookClient.signingSecret (env WEBHOOK_SECRET) item ${badSecret + 1} of ${signingSecrets.length} is invalid: expected whsec_ followed by base64 (value not shown)`,
    );
  }
  const auth = authConfig(lookups);

  if (num('pool.leaseTimeout') <= num('webhookClient.timeout')) {
    throw new ConfigError(
      `config: pool.leaseTimeout = ${num('pool.leaseTimeout')}ms is invalid: expected more than webhookClient.timeout (${num('webhookClient.timeout')}ms), or a slow delivery would be recovered and sent twice`,
    );
  }

  if (num('pool.nodeTimeout') < 3 * num('pool.heartbeatInterval')) {
    throw new ConfigError(
      `config: pool.nodeTimeout = ${num('pool.nodeTimeout')}ms is invalid: expected at least 3 × pool.heartbeatInterval (${3 * num('pool.heartbeatInterval')}ms), or one slow heartbeat would declare a live node dead`,
    );
  }

  if (num('api.maxConnectionsPerClient') > num('api.maxConnections')) {
    throw new ConfigError(
      `config: api.maxConnectionsPerClient = ${num('api.maxConnectionsPerClient')} is invalid: expected at most api.maxConnections (${num('api.maxConnections')})`,
    );
  }

  if (num('api.headersTimeout') > num('api.requestTimeout')) {
    throw new ConfigError(
      `config: api.headersTimeout = ${num('api.headersTimeout')}ms is invalid: expected at most api.requestTimeout (${num('api.requestTimeout')}ms)`,
    );
  }

  const mongodbUri = env.MONGODB_URI ?? '';
  const databaseUrl = env.DATABASE_URL ?? '';
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    throw new ConfigError(
      'config: DATABASE_URL is invalid: expected postgres://user:password@host:port/database',
    );
  }
  if (mongodbUri && !/^mongodb(\+srv)?:\/\//.test(mongodbUri)) {
    throw new ConfigError('config: MONGODB_URI is invalid: expected mongodb://[user:password@]host:port');
  }
  const kind: StoreKind = mongodbUri ? 'mongodb' : databaseUrl ? 'postgres' : 'sqlite';

  const redisUri = env.REDIS_URI ?? '';
  const redis = redisUri ? parseRedisUri(redisUri, env.REDIS_PASSWORD ?? '', envOr(env, 'REDIS_DB')) : null;

  const listen = parseListen(envOr(env, 'PORT'));
  if (listen.host !== null && env.HOST && env.HOST !== listen.host) {
    throw new ConfigError(
      `config: PORT = ${JSON.stringify(env.PORT)} names host ${listen.host} but HOST = ${JSON.stringify(env.HOST)}: expected one of them, or the same host in both`,
    );
  }

  return {
    host: listen.host ?? envOr(env, 'HOST'),
    port: listen.port,
    store: {
      kind,
      sqlitePath: envOr(env, 'SQLITE_PATH'),
      databaseUrl,
      databaseSchema: envOr(env, 'DATABASE_SCHEMA'),
      mongodbUri,
      mongoDbName: envOr(env, 'MESSAGES_DB_NAME'),
      mongoCollection: envOr(env, 'MESSAGES_COLLECTION_NAME'),
    },
    redis,
    worker: { jobIntervalMs: num('worker.workerJobInterval') },
    seedAtStart: bool('mongoDB.seed'),
    webhook: {
      url: webhookUrl,
      timeoutMs: num('webhookClient.timeout'),
      signingSecrets,
      bodyEscaping: choice('webhookClient.bodyEscaping'),
    },
    cache: { ttlMs: num('cache.ttl'), keyPrefix: str('cache.keyPrefix') },
    pool: {
      numWorkers: num('pool.numWorkers'),
      timeoutMs: num('pool.timeout'),
      initialRunning: bool('pool.initialJobFetch'),
      leaseMs: num('pool.leaseTimeout'),
      deliveryThreads: num('pool.deliveryThreads'),
      heartbeatMs: num('pool.heartbeatInterval'),
      nodeTimeoutMs: num('pool.nodeTimeout'),
      stateSyncMs: num('pool.stateSyncInterval'),
    },
    rateLimiter: {
      enabled: bool('rateLimiter.enabled'),
      maxTokens: num('rateLimiter.maxTokens'),
      refillRate: num('rateLimiter.refillRate'),
      refillIntervalMs: num('rateLimiter.refillInterval'),
    },
    retry: {
      maxAttempts: num('retry.maxAttempts'),
      baseDelayMs: num('retry.baseDelay'),
      maxDelayMs: num('retry.maxDelay'),
    },
    metrics: {
      enabled: bool('metrics.enabled'),
      countIntervalMs: num('metrics.countInterval'),
      listen: metricsListen(str('metrics.listen')),
    },
    tracing: tracingConfig(env),
    api: {
      bodyLimit: num('api.bodyLimit'),
      requestTimeoutMs: num('api.requestTimeout'),
      headersTimeoutMs: num('api.headersTimeout'),
      keepAliveTimeoutMs: num('api.keepAliveTimeout'),
      maxConnections: num('api.maxConnections'),
      maxConnectionsPerClient: num('api.maxConnectionsPerClient'),
      maxConcurrentRequests: num('api.maxConcurrentRequests'),
      maxConcurrentRequestsPerClient: num('api.maxConcurrentRequestsPerClient'),
      corsOrigins: corsOrigins(list('api.cors.origins')),
      allowedHosts: list('api.allowedHosts').map((h) => h.toLowerCase()),
      trustProxy: trustedProxies(list('api.trustProxy')),
    },
    auth,
    apiRateLimiter: {
      enabled: bool('apiRateLimiter.enabled'),
      maxTokens: num('apiRateLimiter.maxTokens'),
      refillRate: num('apiRateLimiter.refillRate'),
      refillIntervalMs: num('apiRateLimiter.refillInterval'),
    },
    deliveryMode: choice('delivery.mode'),
    role: choice('node.role'),
    logLevel: str('log.level') as LogLevel,
    configFile,
    secrets,
    unknownKeys,
    ignoredConfigFile,
  };
}
