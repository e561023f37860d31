import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { runCli } from './helpers/cli.js';
import { describe, test } from 'node:test';
import { SCOPE_NAMES } from '../src/domain/scopes.js';
import type { InjectOptions } from 'fastify';
import { testApp, waitFor } from './helpers/app.js';
import { serviceUrl, uniqueName } from './helpers/services.js';
import { createLogger } from '../src/logging/logger.js';
import { configItem, generateKey } from '../src/auth/api-keys.js';
import { createApiKey } from '../src/auth/key-admin.js';
import type { App } from '../src/app/app.js';

type Res = { status: number; body: Record<string, unknown>; headers: Record<string, unknown> };

async function call(app: App, opts: InjectOptions): Promise<Res> {
  const r = await app.server.inject(opts);
  let body: Record<string, unknown> = {};
  try {
    body = r.json();
  } catch {
    // not JSON (Swagger UI)
  }
  return { status: r.statusCode, body, headers: r.headers };
}

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const NEW_MESSAGE = { content: 'hi', recipient_phone_number: '+905551111111' };
const FROM_LAN = { remoteAddress: '10.1.2.3' };

describe('protected mode: no credentials configured', () => {
  test('loopback clients with a loopback Host are answered; others get 403 saying how to configure', async () => {
    const t = await testApp();
    try {
      const ok = await call(t.app, { url: '/messages', headers: { host: 'localhost:3000' } });
      assert.equal(ok.status, 200);
      const v6 = await call(t.app, {
        url: '/messages',
        headers: { host: '[::1]:3000' },
        remoteAddress: '::1',
      });
      assert.equal(v6.status, 200);

      const lan = await call(t.app, { url: '/messages', ...FROM_LAN });
      assert.equal(lan.status, 403);
      assert.equal(lan.body.code, 'PROTECTED_MODE');
      assert.match(String(lan.body.error), /keys create/);
      assert.match(String(lan.body.error), /auth\.jwt/);
      // the setting by its key and its variable, the address it saw, and Docker's bridge named
      assert.match(String(lan.body.error), /api\.auth \/ API_AUTH/);
      assert.match(String(lan.body.error), /API_AUTH=none/);
      assert.match(String(lan.body.error), /came from 10\.1\.2\.3/);
      assert.match(String(lan.body.error), /Docker/);
      // every kind of operation, state changes included, refused before its body is read
      const ops: InjectOptions[] = [
        { method: 'POST', url: '/messages', payload: NEW_MESSAGE },
        { method: 'PUT', url: '/worker-pool/state', payload: { action: 'pause' } },
        { method: 'DELETE', url: '/messages/0123456789abcdef01234567' },
        { method: 'GET', url: '/keys' },
      ];
      for (const op of ops) {
        const r = await call(t.app, { ...op, ...FROM_LAN });
        assert.equal(r.status, 403, `${op.method} ${op.url}`);
        assert.equal(r.body.code, 'PROTECTED_MODE', `${op.method} ${op.url}`);
      }
      // DNS rebinding: a page of evil.example resolved to 127.0.0.1 talks from loopback, with its own Host
      const rebound = await call(t.app, { url: '/messages', headers: { host: 'evil.example:3000' } });
      assert.equal(rebound.status, 403);
      assert.equal(rebound.body.code, 'PROTECTED_MODE');

      // probes and the API description stay public
      assert.equal((await call(t.app, { url: '/healthz', ...FROM_LAN })).status, 200);
      assert.equal((await call(t.app, { url: '/readyz', ...FROM_LAN })).status, 200);
      assert.equal((await call(t.app, { url: '/swagger/json', ...FROM_LAN })).status, 200);
    } finally {
      await t.cleanup();
    }
  });

  test('api.auth none answers anyone naming it by address or a listed name, and says so at start', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const t = await testApp({ API_AUTH: 'none' }, {}, createLogger('info', sink));
    try {
      const r = await call(t.app, { method: 'POST', url: '/messages', payload: NEW_MESSAGE, ...FROM_LAN });
      assert.equal(r.status, 201);
      assert.ok(lines.some((l) => /api\.auth is none/.test(l)));
      // no authentication: a DNS name is a rebinding page's unless it is listed; addresses are fine
      for (const host of ['10.0.0.9:3000', '[fd00::1]:3000', '127.0.0.1:3000', 'localhost']) {
        assert.equal(
          (await call(t.app, { url: '/messages', headers: { host }, ...FROM_LAN })).status,
          200,
          host,
        );
      }
      const rebound = await call(t.app, {
        url: '/messages',
        headers: { host: 'evil.example:3000' },
        ...FROM_LAN,
      });
      assert.equal(rebound.status, 403);
      assert.equal(rebound.body.code, 'HOST_NOT_ALLOWED');
      assert.match(String(rebound.body.error), /api\.allowedHosts/);
    } finally {
      await t.cleanup();
    }
  });

  test('api.auth required: no anonymous access, even on loopback', async () => {
    const t = await testApp({ API_AUTH: 'required' });
    try {
      const r = await call(t.app, { url: '/messages' });
      assert.equal(r.status, 401);
      assert.equal(r.body.code, 'UNAUTHORIZED');
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="message-scheduler"');
    } finally {
      await t.cleanup();
    }
  });
});

describe('API keys', () => {
  test('once a key exists every request needs one; scopes decide; 401 and 403 as RFC 6750 says', async () => {
    const t = await testApp();
    try {
      // the first key through the API, by the loopback operator (protected mode: every scope)
      const made = await call(t.app, {
        method: 'POST',
        url: '/keys',
        payload: { name: 'root', scopes: ['admin'] },
      });
      assert.equal(made.status, 201);
      const admin = String(made.body.key);
      assert.match(admin, /^ms_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      assert.equal(made.body.id, admin.slice(3, 15));

      // protected mode is over: loopback without credentials is now 401
      const anon = await call(t.app, { url: '/messages' });
      assert.equal(anon.status, 401);
      assert.equal(anon.headers['www-authenticate'], 'Bearer realm="message-scheduler"');

      const reader = await call(t.app, {
        method: 'POST',
        url: '/keys',
        payload: { name: 'reader', scopes: ['messages:read'] },
        headers: bearer(admin),
      });
      const writer = await call(t.app, {
        method: 'POST',
        url: '/keys',
        payload: { name: 'writer', scopes: ['messages:write', 'pool:control'] },
        headers: bearer(admin),
      });
      const readKey = String(reader.body.key);
      const writeKey = String(writer.body.key);

      assert.equal((await call(t.app, { url: '/messages', headers: bearer(readKey) })).status, 200);
      // the same key in X-API-Key, from another address: keys work from anywhere
      assert.equal(
        (await call(t.app, { url: '/messages', headers: { 'x-api-key': readKey }, ...FROM_LAN })).status,
        200,
      );
      const denied = await call(t.app, {
        method: 'POST',
        url: '/messages',
        payload: NEW_MESSAGE,
        headers: bearer(readKey),
      });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.code, 'INSUFFICIENT_SCOPE');
      assert.match(
        String(denied.headers['www-authenticate']),
        /error="insufficient_scope", scope="messages:write"/,
      );

      const created = await call(t.app, {
        method: 'POST',
        url: '/messages',
        payload: NEW_MESSAGE,
        headers: bearer(writeKey),
      });
      assert.equal(created.status, 201);
      assert.equal((await call(t.app, { url: '/messages', headers: bearer(writeKey) })).status, 403);
      assert.equal(
        (
          await call(t.app, {
            method: 'PUT',
            url: '/worker-pool/state',
            payload: { action: 'pause' },
            headers: bearer(writeKey),
          })
        ).status,
        200,
      );
      assert.equal((await call(t.app, { url: '/keys', headers: bearer(writeKey) })).status, 403);

      for (const wrong of [
        'ms_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
        readKey.slice(0, -1) + (readKey.endsWith('A') ? 'B' : 'A'),
        'not-a-key',
      ]) {
        const r = await call(t.app, { url: '/messages', headers: bearer(wrong) });
        assert.equal(r.status, 401, wrong);
        assert.match(String(r.headers['www-authenticate']), /error="invalid_token"/);
        if (wrong.length > 20)
          assert.ok(!JSON.stringify(r).includes(wrong.slice(16)), 'the key is not echoed');
      }
      const basic = await call(t.app, { url: '/messages', headers: { authorization: 'Basic dXNlcjpwYXNz' } });
      assert.equal(basic.status, 401);
      assert.match(String(basic.headers['www-authenticate']), /error="invalid_request"/);

      // the list names keys, never the key or its hash
      const list = await call(t.app, { url: '/keys', headers: bearer(admin) });
      const text = JSON.stringify(list.body);
      assert.equal(list.status, 200);
      assert.equal((list.body as unknown as unknown[]).length, 3);
      for (const k of [admin, readKey, writeKey]) assert.ok(!text.includes(k.slice(16)));
      assert.doesNotMatch(text, /hash|[0-9a-f]{64}/);

      // revoked: refused at once on this node
      const revoked = await call(t.app, {
        method: 'DELETE',
        url: `/keys/${reader.body.id}`,
        headers: bearer(admin),
      });
      assert.equal(revoked.status, 200);
      assert.ok(revoked.body.revoked_at);
      assert.equal((await call(t.app, { url: '/messages', headers: bearer(readKey) })).status, 401);
      assert.equal(
        (await call(t.app, { method: 'DELETE', url: '/keys/0123456789ab', headers: bearer(admin) })).status,
        404,
      );
      const badId = await call(t.app, { method: 'DELETE', url: '/keys/nope', headers: bearer(admin) });
      assert.equal(badId.status, 400);
      assert.equal(badId.body.code, 'BAD_REQUEST');
      assert.match(String(badId.body.error), /key id must be 12 hex digits/);

      // last use reaches the store with the next refresh
      await waitFor(
        async () => {
          const keys = await t.app.store.keys.listKeys();
          return keys.find((k) => k.name === 'writer')?.last_used_at != null;
        },
        5000,
        'last_used_at',
      );
    } finally {
      await t.cleanup();
    }
  });

  test('keys given in the config as hashes (auth.apiKeys) are accepted, compared by hash', async () => {
    const { key } = generateKey();
    const other = generateKey().key;
    const t = await testApp({
      AUTH_API_KEYS: `${configItem('deploy', ['messages:read'], key)} ${configItem('ops', ['admin'], other)}`,
    });
    try {
      assert.equal((await call(t.app, { url: '/messages' })).status, 401);
      assert.equal((await call(t.app, { url: '/messages', headers: bearer(key) })).status, 200);
      assert.equal((await call(t.app, { url: '/keys', headers: bearer(key) })).status, 403);
      assert.equal((await call(t.app, { url: '/keys', headers: bearer(other) })).status, 200);
    } finally {
      await t.cleanup();
    }
  });

  test('control actions are logged at info with the actor, never with the key', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const t = await testApp({}, {}, createLogger('info', sink));
    try {
      const { key } = await createApiKey(t.app.store.keys, 'ops-bot', [
        'messages:write',
        'pool:control',
        'admin',
      ]);
      await t.app.server.inject({ method: 'POST', url: '/keys', payload: { name: 'x', scopes: ['admin'] } });
      await waitFor(async () => (await call(t.app, { url: '/keys' })).status === 401, 5000, 'refresh');
      const h = bearer(key);
      await call(t.app, {
        method: 'PUT',
        url: '/worker-pool/state',
        payload: { action: 'pause' },
        headers: h,
      });
      const m = await call(t.app, { method: 'POST', url: '/messages', payload: NEW_MESSAGE, headers: h });
      await call(t.app, { method: 'DELETE', url: `/messages/${m.body.id}`, headers: h });
      const k = await call(t.app, {
        method: 'POST',
        url: '/keys',
        payload: { name: 'tmp', scopes: ['admin'] },
        headers: h,
      });
      await call(t.app, { method: 'DELETE', url: `/keys/${k.body.id}`, headers: h });
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      for (const msg of ['worker pool action', 'message cancelled', 'API key created', 'API key revoked']) {
        const line = logged.filter((l) => l.msg === msg).at(-1);
        assert.ok(line, msg);
        assert.equal(line.actor, 'ops-bot', msg);
        assert.equal(line.level, 30, msg);
      }
      const all = lines.join('');
      assert.ok(!all.includes(key.slice(16)), 'the key is not in the log');
      assert.ok(!all.includes(String(k.body.key).slice(16)), 'a created key is not in the log');
    } finally {
      await t.cleanup();
    }
  });

  test('two nodes on one PostgreSQL store: a key made on one works on the other; revoked, it stops within seconds', async (ctx) => {
    const url = serviceUrl('DATABASE_URL');
    if (!url) return ctx.skip('DATABASE_URL not set');
    const env = {
      DATABASE_URL: url,
      DATABASE_SCHEMA: uniqueName('keys'),
      AUTH_KEY_REFRESH_INTERVAL: '200ms',
    };
    const a = await testApp(env);
    const b = await testApp(env);
    try {
      const { key, record } = await createApiKey(a.app.store.keys, 'shared', ['messages:read']);
      await waitFor(
        async () => (await call(b.app, { url: '/messages', headers: bearer(key) })).status === 200,
        5000,
        'node b accepts',
      );
      await a.app.store.keys.revokeKey(record.id, new Date());
      const revokedAt = Date.now();
      await waitFor(
        async () => (await call(b.app, { url: '/messages', headers: bearer(key) })).status === 401,
        5000,
        'node b refuses',
      );
      assert.ok(Date.now() - revokedAt < 2000, `refused ${Date.now() - revokedAt} ms after the revocation`);
    } finally {
      const { PostgresStore } = await import('../src/store/postgres/postgres-store.js');
      await a.cleanup();
      await b.cleanup();
      const s = new PostgresStore({ connectionString: url, schema: env.DATABASE_SCHEMA });
      await s.dropSchema();
      await s.close();
    }
  });
});

test('auth.swaggerPublic false: the API description needs a credential of any scope', async () => {
  const t = await testApp({ AUTH_SWAGGER_PUBLIC: 'false', API_AUTH: 'required' });
  try {
    assert.equal((await call(t.app, { url: '/swagger/json' })).status, 401);
    assert.equal((await call(t.app, { url: '/swagger/doc.json' })).status, 401);
    const { key } = await createApiKey(t.app.store.keys, 'docs', ['messages:read']);
    await waitFor(
      async () => (await call(t.app, { url: '/swagger/json', headers: bearer(key) })).status === 200,
      5000,
      'key',
    );
    assert.equal((await call(t.app, { url: '/healthz' })).status, 200);
  } finally {
    await t.cleanup();
  }
});

test('every operation but the probes needs a scope, and without credentials every one is 401 (HEAD too)', async () => {
  const doc = JSON.parse(readFileSync('docs/openapi.json', 'utf8')) as {
    paths: Record<string, Record<string, { security?: unknown[]; operationId: string }>>;
  };
  const t = await testApp({ API_AUTH: 'required' });
  try {
    const open: string[] = [];
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const url = path.replace(
          '{id}',
          path.startsWith('/keys') ? '0123456789ab' : '0123456789abcdef01234567',
        );
        if (!op.security || op.security.length === 0) {
          open.push(op.operationId);
          continue;
        }
        if (path === '/me') {
          // the one exception: it says who the caller is, here nobody (the dashboard then asks for a key)
          const r = await call(t.app, { method: 'GET', url, ...FROM_LAN });
          assert.equal(r.status, 200);
          assert.deepEqual(r.body, { kind: 'none', name: '', scopes: [] });
          checked++;
          continue;
        }
        for (const m of method === 'get' ? ['GET', 'HEAD'] : [method.toUpperCase()]) {
          const r = await call(t.app, { method: m as InjectOptions['method'], url, ...FROM_LAN });
          assert.equal(r.status, 401, `${m} ${url}`);
          checked++;
        }
      }
    }
    assert.deepEqual(open.sort(), ['healthz', 'readyz']);
    assert.ok(checked >= 18, `${checked} checked`);
  } finally {
    await t.cleanup();
  }
});

describe('browser safety', () => {
  test('no state change by a cross-site simple request: form, text or body-less POST; foreign Origin', async () => {
    const t = await testApp();
    try {
      const m = await call(t.app, { method: 'POST', url: '/messages', payload: NEW_MESSAGE });
      assert.equal(m.status, 201);
      const id = String(m.body.id);
      // a cross-site <form method=post> or fetch(no-cors) can send these without a preflight
      const simple: InjectOptions[] = [
        {
          method: 'POST',
          url: '/messages',
          payload: 'content=hi',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
        },
        {
          method: 'POST',
          url: '/messages',
          payload: '{"content":"hi"}',
          headers: { 'content-type': 'text/plain' },
        },
        { method: 'POST', url: `/messages/${id}/retry` },
        {
          method: 'POST',
          url: `/messages/${id}/give-up`,
          headers: { 'content-type': 'text/plain' },
          payload: '',
        },
      ];
      for (const o of simple) {
        const r = await call(t.app, o);
        assert.equal(r.status, 415, `${o.method} ${o.url} ${JSON.stringify(o.headers)}`);
      }
      // a page of another origin: refused whatever it sends (DELETE and PUT would be preflighted, and fail CORS)
      for (const o of [
        {
          method: 'PUT' as const,
          url: '/worker-pool/state',
          payload: 'action=pause',
          headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
        },
        {
          method: 'POST' as const,
          url: `/messages/${id}/retry`,
          headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
        },
        { method: 'DELETE' as const, url: `/messages/${id}`, headers: { 'sec-fetch-site': 'cross-site' } },
        { method: 'DELETE' as const, url: `/messages/${id}`, headers: { origin: 'null' } },
      ]) {
        const r = await call(t.app, o);
        assert.equal(r.status, 403, `${o.method} ${o.url}`);
        assert.equal(r.body.code, 'CROSS_SITE_REQUEST');
      }
      assert.equal((await call(t.app, { url: '/worker-pool/state' })).body.status, 'paused');
      assert.equal((await call(t.app, { url: `/messages/${id}` })).body.status, 'unsent');
      // the same page's own origin, and JSON with a body-less POST, are fine
      const same = await call(t.app, {
        method: 'DELETE',
        url: `/messages/${id}`,
        headers: { origin: 'http://localhost:80', host: 'localhost:80' },
      });
      assert.equal(same.status, 200);
    } finally {
      await t.cleanup();
    }
  });

  test('CORS is off by default; an allowed origin gets CORS headers and may change state', async () => {
    const off = await testApp();
    try {
      const r = await call(off.app, { url: '/messages', headers: { origin: 'https://app.example' } });
      assert.equal(r.headers['access-control-allow-origin'], undefined);
    } finally {
      await off.cleanup();
    }
    const t = await testApp({ API_CORS_ORIGINS: 'https://app.example https://admin.example' });
    try {
      const pre = await call(t.app, {
        method: 'OPTIONS',
        url: '/messages',
        headers: {
          origin: 'https://app.example',
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type',
        },
      });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers['access-control-allow-origin'], 'https://app.example');
      assert.match(String(pre.headers['access-control-allow-headers']), /authorization/);
      const evil = await call(t.app, {
        method: 'OPTIONS',
        url: '/messages',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
      });
      assert.equal(evil.headers['access-control-allow-origin'], undefined);
      const post = await call(t.app, {
        method: 'POST',
        url: '/messages',
        payload: NEW_MESSAGE,
        headers: { origin: 'https://admin.example' },
      });
      assert.equal(post.status, 201);
      assert.equal(post.headers['access-control-allow-origin'], 'https://admin.example');
    } finally {
      await t.cleanup();
    }
  });

  test('api.allowedHosts: any other Host is 403 (probes exempt); security headers on every answer', async () => {
    const t = await testApp({ API_ALLOWED_HOSTS: 'scheduler.example.com localhost' });
    try {
      const ok = await call(t.app, { url: '/messages', headers: { host: 'scheduler.example.com:8443' } });
      // an allowed name counts as this service's own name for loopback clients in protected mode
      assert.equal(ok.status, 200);
      const lan = await call(t.app, {
        url: '/messages',
        headers: { host: 'scheduler.example.com' },
        ...FROM_LAN,
      });
      assert.equal(lan.body.code, 'PROTECTED_MODE');
      const bad = await call(t.app, { url: '/messages', headers: { host: 'rebind.example' } });
      assert.equal(bad.status, 403);
      assert.equal(bad.body.code, 'HOST_NOT_ALLOWED');
      assert.equal((await call(t.app, { url: '/healthz', headers: { host: '10.0.0.7:3000' } })).status, 200);
      for (const r of [ok, bad]) {
        assert.match(String(r.headers['content-security-policy']), /default-src 'self'/);
        assert.equal(r.headers['x-content-type-options'], 'nosniff');
        assert.ok(r.headers['x-frame-options']);
      }
    } finally {
      await t.cleanup();
    }
  });
});

describe('config', () => {
  test('bad auth settings stop start-up with one line naming the key', async () => {
    const { loadConfig } = await import('../src/config/config.js');
    const dir = mkdtempSync(join(tmpdir(), 'ms-auth-cfg-'));
    writeFileSync(join(dir, 'dev.yaml'), '');
    try {
      const cases: [Record<string, string>, RegExp][] = [
        [{ API_AUTH: 'open' }, /api\.auth .*"open".*protected, required, none/],
        [{ AUTH_API_KEYS: 'ci;admin' }, /auth\.apiKeys .*item 1 .*three parts/],
        [{ AUTH_API_KEYS: 'ci;root;sha256:' + 'a'.repeat(64) }, /auth\.apiKeys .*not root/],
        [{ AUTH_API_KEYS: 'ci;admin;md5:abc' }, /auth\.apiKeys .*sha256: followed by 64 hex/],
        [{ AUTH_JWT_JWKS_URL: 'https://id.example/jwks' }, /auth\.jwt\.issuer = "" is invalid/],
        [{ AUTH_JWT_JWKS_URL: 'ftp://x' }, /auth\.jwt\.jwksUrl .*http/],
        [{ AUTH_JWT_ALGORITHMS: 'RS256 HS256' }, /auth\.jwt\.algorithms .*not HS256/],
        [{ AUTH_JWT_ALGORITHMS: 'none' }, /auth\.jwt\.algorithms .*not none/],
        [{ API_CORS_ORIGINS: 'https://app.example/path' }, /api\.cors\.origins .*origin such as/],
        [{ API_RATE_LIMITER_MAX_TOKENS: '0' }, /apiRateLimiter\.maxTokens .*>= 1/],
        [
          { WEBHOOK_SECRET: 'whsec_c2VjcmV0 hunter2-secret' },
          /signingSecret .*item 2 of 2 .*value not shown/,
        ],
      ];
      for (const [env, re] of cases) {
        assert.throws(() => loadConfig({ CONFIG_PATH: dir, ...env }, dir), re, JSON.stringify(env));
      }
      try {
        loadConfig({ CONFIG_PATH: dir, WEBHOOK_SECRET: 'whsec_c2VjcmV0 hunter2-secret' }, dir);
      } catch (err) {
        assert.ok(!(err as Error).message.includes('hunter2'));
        assert.ok(!(err as Error).message.includes('c2VjcmV0'));
      }
      writeFileSync(
        join(dir, 'list.yaml'),
        'webhookClient:\n  signingSecret:\n    - whsec_c2VjcmV0\n    - whsec_b3RoZXI=\napi:\n  cors:\n    origins: [https://app.example]\n',
      );
      const fromYaml = loadConfig({ CONFIG_PATH: dir, CONFIG_ENV: 'list' }, dir);
      assert.deepEqual(fromYaml.webhook.signingSecrets, ['whsec_c2VjcmV0', 'whsec_b3RoZXI=']);
      assert.deepEqual(fromYaml.api.corsOrigins, ['https://app.example']);
      const c = loadConfig({ CONFIG_PATH: dir, WEBHOOK_SECRET: 'whsec_c2VjcmV0  whsec_b3RoZXI=' }, dir);
      assert.deepEqual(c.webhook.signingSecrets, ['whsec_c2VjcmV0', 'whsec_b3RoZXI=']);
      assert.equal(c.auth.mode, 'protected');
      assert.equal(c.auth.jwt, null);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('keys CLI', () => {
  test('create prints the key alone on stdout (the log goes to stderr, with the actor); list, revoke, hash', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ms-keys-cli-'));
    const env = {
      ...process.env,
      SQLITE_PATH: join(dir, 'm.db'),
      MONGODB_URI: '',
      DATABASE_URL: '',
      LOG_LEVEL: 'info',
    };
    const cli = (args: string[]) => runCli(['keys', ...args], env);
    try {
      const made = await cli(['create', '--name', 'ci', '--scopes', 'messages:read,admin']);
      assert.equal(made.code, 0, made.stderr);
      const key = made.stdout.split('\n')[0] ?? '';
      assert.match(key, /^ms_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      assert.match(made.stderr, /"actor":"cli \(.+\)".*"msg":"API key created"/);
      assert.ok(!made.stderr.includes(key.slice(16)), 'the key is not logged');
      const id = key.slice(3, 15);
      const list = await cli(['list']);
      assert.match(
        list.stdout,
        new RegExp(`^${id}  ci  messages:read,admin  created .* last used never  expires never\\n$`),
      );
      assert.ok(!list.stdout.includes(key.slice(16)));
      const revoked = await cli(['revoke', id]);
      assert.equal(revoked.code, 0);
      assert.match((await cli(['list'])).stdout, /REVOKED/);
      assert.equal((await cli(['revoke', '0123456789ab'])).code, 1);
      const bad = await cli(['create', '--name', 'x', '--scopes', 'root']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /scope "root" is unknown/);
      const hashed = await cli(['hash', '--name', 'deploy', '--scopes', 'messages:write']);
      const [hkey = '', , item = ''] = hashed.stdout.split('\n');
      assert.equal(item, configItem('deploy', ['messages:write'], hkey));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the served OpenAPI document declares what the answers carry', () => {
  test('every header of a 401, 403, 405 and 429 is declared for that operation and status; each scope note once', async () => {
    const t = await testApp({
      API_RATE_LIMITER_ENABLED: 'true',
      API_RATE_LIMITER_MAX_TOKENS: '20',
      API_RATE_LIMITER_REFILL_RATE: '1',
      API_RATE_LIMITER_REFILL_INTERVAL: '1h',
    });
    try {
      const doc = (await t.app.server.inject('/swagger/json')).json() as {
        paths: Record<
          string,
          Record<string, { description?: string; responses: Record<string, { headers?: object }> }>
        >;
      };
      for (const [path, ops] of Object.entries(doc.paths)) {
        for (const [method, op] of Object.entries(ops)) {
          const notes = (op.description ?? '').match(/Needs the scope/g) ?? [];
          assert.ok(notes.length <= 1, `${method} ${path}: the scope note ${notes.length} times`);
        }
      }
      const made = await call(t.app, {
        method: 'POST',
        url: '/keys',
        payload: { name: 'r', scopes: ['messages:read'] },
      });
      const reader = String(made.body.key);
      // headers of every answer that are not the transport's or the security policy's
      const API_HEADERS = [
        'www-authenticate',
        'allow',
        'retry-after',
        'ratelimit',
        'ratelimit-policy',
        'link',
      ];
      const answers: Array<[InjectOptions, string, string, number]> = [
        [{ url: '/messages' }, '/messages', 'get', 401],
        [{ url: '/messages', headers: bearer('ms_000000000000_' + 'x'.repeat(43)) }, '/messages', 'get', 401],
        [
          { method: 'POST', url: '/messages', payload: NEW_MESSAGE, headers: bearer(reader) },
          '/messages',
          'post',
          403,
        ],
        [{ url: '/worker-pool/state', headers: bearer(reader) }, '/worker-pool/state', 'get', 403],
        [{ method: 'PATCH', url: '/messages', headers: bearer(reader) }, '/messages', 'get', 405],
        [{ url: '/sent-messages', headers: bearer(reader) }, '/sent-messages', 'get', 200],
      ];
      for (const [opts, path, method, status] of answers) {
        const r = await call(t.app, opts);
        assert.equal(r.status, status, `${opts.method ?? 'GET'} ${opts.url}: ${JSON.stringify(r.body)}`);
        const declared = Object.keys(doc.paths[path]?.[method]?.responses[String(status)]?.headers ?? {});
        for (const h of API_HEADERS.filter((name) => r.headers[name] !== undefined)) {
          assert.ok(
            declared.includes(h),
            `${opts.method ?? 'GET'} ${opts.url} ${status}: ${h} sent, not declared`,
          );
        }
      }
      // the bucket runs dry: the 429 carries retry-after and the RateLimit fields, all declared
      let last: Res | undefined;
      for (let i = 0; i < 30 && last?.status !== 429; i++) {
        last = await call(t.app, { url: '/sent-messages', headers: bearer(reader) });
      }
      assert.equal(last?.status, 429);
      const declared = Object.keys(doc.paths['/sent-messages']?.get?.responses['429']?.headers ?? {});
      for (const h of API_HEADERS.filter((name) => last?.headers[name] !== undefined)) {
        assert.ok(declared.includes(h), `429: ${h} sent, not declared`);
      }
    } finally {
      await t.cleanup();
    }
  });
});

test('`message-scheduler help` lists every scope a key can have', () => {
  const help = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'help'], {
    encoding: 'utf8',
  });
  for (const scope of SCOPE_NAMES) assert.match(help, new RegExp(`\\b${scope}\\b`), scope);
});
