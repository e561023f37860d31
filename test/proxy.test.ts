/**
 * Behind a same-host reverse proxy (the README recommends terminating TLS in front), with a real
 * nginx: `proxy_pass http://127.0.0.1:PORT` and `X-Forwarded-For $proxy_add_x_forwarded_for`, as
 * nginx's documentation and most guides configure it. Before: every remote client reached the
 * service from 127.0.0.1 and was a loopback client, so on a fresh install (protected mode) a
 * client at 203.0.113.7 read messages, paused the pool and created an admin key.
 *
 * nginx's realip module takes the remote client's address from a test header (X-Test-Client),
 * so nginx itself sees a client at 203.0.113.7 and forwards for it as it would for a real one.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { testApp } from './helpers/app.js';

const NGINX = ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/bin/nginx'].find(
  (p) => spawnSync(p, ['-v']).status === 0,
);

interface Proxy {
  url: string;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** nginx on a free loopback port, proxying to `upstream` as a same-host TLS terminator would. */
async function nginx(upstream: number): Promise<Proxy> {
  if (!NGINX) throw new Error('nginx is not installed: scripts/services.sh up installs it');
  const dir = mkdtempSync(join(tmpdir(), 'ms-nginx-'));
  const port = 20_000 + (process.pid % 5000) * 2 + 1;
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off;
master_process off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    # the test says which remote address nginx sees (only the test can reach this port)
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Test-Client;
    location / {
      proxy_pass http://127.0.0.1:${upstream};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Test-Client "";
    }
  }
}
`,
  );
  const child: ChildProcess = spawn(
    NGINX,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 100 && !(await portOpen(port)); i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function req(
  url: string,
  o: { method?: string; headers?: Record<string, string>; body?: string } = {},
) {
  const r = await fetch(url, {
    method: o.method ?? 'GET',
    headers: { ...(o.body ? { 'content-type': 'application/json' } : {}), ...o.headers },
    ...(o.body ? { body: o.body } : {}),
  });
  const text = await r.text();
  return { status: r.status, body: (text ? JSON.parse(text) : {}) as { code?: string; error?: string } };
}

const REMOTE = { 'x-test-client': '203.0.113.7' };

describe('behind a same-host nginx', { skip: NGINX ? false : 'nginx not installed' }, () => {
  let proxy: Proxy | null = null;
  let app: Awaited<ReturnType<typeof testApp>> | null = null;
  async function start(env: Record<string, string>): Promise<{ direct: string; proxied: string }> {
    await proxy?.stop();
    await app?.cleanup();
    app = await testApp({ HOST: '127.0.0.1', ...env });
    await app.app.server.listen({ port: 0, host: '127.0.0.1' });
    const port = (app.app.server.server.address() as AddressInfo).port;
    proxy = await nginx(port);
    return { direct: `http://127.0.0.1:${port}`, proxied: proxy.url };
  }
  before(() => undefined);
  after(async () => {
    await proxy?.stop();
    await app?.cleanup();
  });

  test('fresh install, no api.trustProxy: no request through the proxy is a loopback client', async () => {
    const { direct, proxied } = await start({});
    // the machine's own shell still gets in directly
    assert.equal((await req(`${direct}/messages`)).status, 200);
    for (const [what, headers] of [
      ['a remote client', REMOTE],
      ['a client on the proxy host', {}],
      [
        'a remote client that forges X-Forwarded-For: 127.0.0.1',
        { ...REMOTE, 'x-forwarded-for': '127.0.0.1' },
      ],
    ] as const) {
      const r = await req(`${proxied}/messages`, { headers });
      assert.equal(r.status, 403, `${what}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'PROTECTED_MODE');
      assert.match(r.body.error ?? '', /api\.trustProxy/);
    }
    const pause = await req(`${proxied}/worker-pool/state`, {
      method: 'PUT',
      headers: REMOTE,
      body: '{"action":"pause"}',
    });
    assert.equal(pause.status, 403, 'no remote pause');
    const mint = await req(`${proxied}/keys`, {
      method: 'POST',
      headers: REMOTE,
      body: JSON.stringify({ name: 'pwned', scopes: ['admin'] }),
    });
    assert.equal(mint.status, 403, 'no remote admin key');
    // forwarding headers sent straight to the service (no proxy) do not make a request local either
    const forged = await req(`${direct}/messages`, { headers: { 'x-forwarded-for': '127.0.0.1' } });
    assert.equal(forged.status, 403);
    assert.equal((await req(`${direct}/messages`, { headers: { 'x-real-ip': '127.0.0.1' } })).status, 403);
    assert.equal((await req(`${direct}/messages`, { headers: { forwarded: 'for=127.0.0.1' } })).status, 403);
  });

  test('api.trustProxy loopback: the forwarded address decides (remote: 403; on the proxy host: 200)', async () => {
    const { proxied } = await start({ API_TRUST_PROXY: 'loopback' });
    assert.equal((await req(`${proxied}/messages`, { headers: REMOTE })).status, 403);
    const forged = await req(`${proxied}/messages`, {
      headers: { ...REMOTE, 'x-forwarded-for': '127.0.0.1' },
    });
    assert.equal(forged.status, 403, 'nginx appends the real client after a forged one');
    assert.equal((await req(`${proxied}/messages`)).status, 200, 'a client on the proxy host is local');
  });

  test('api.trustProxy: rate-limit buckets are the forwarded clients, not the proxy', async () => {
    const { proxied } = await start({
      API_TRUST_PROXY: '127.0.0.1',
      API_AUTH: 'none',
      API_RATE_LIMITER_ENABLED: 'true',
      API_RATE_LIMITER_MAX_TOKENS: '5',
      API_RATE_LIMITER_REFILL_RATE: '1',
      API_RATE_LIMITER_REFILL_INTERVAL: '1h',
    });
    const a: number[] = [];
    for (let i = 0; i < 7; i++) {
      // a client cannot take a fresh bucket by forging X-Forwarded-For: nginx appends its address
      a.push(
        (
          await req(`${proxied}/messages?limit=1`, {
            headers: { ...REMOTE, 'x-forwarded-for': `10.9.9.${i}` },
          })
        ).status,
      );
    }
    assert.deepEqual(a, [200, 200, 200, 200, 200, 429, 429]);
    const b = await req(`${proxied}/messages?limit=1`, { headers: { 'x-test-client': '203.0.113.8' } });
    assert.equal(b.status, 200, 'another client has its own bucket');
  });
});
