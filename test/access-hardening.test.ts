/**
 * Access control against what the second attack pass found (issue 21): two Host headers, IP
 * literals taken for loopback names, protected mode reopening when every key is revoked, answers
 * that never drew on the rate limit (404, 405, 401), a fresh bucket per loopback address, pages
 * of 1,000 costing what pages of 10 cost, and a JWT taken in X-API-Key.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { testApp, waitFor } from './helpers/app.js';
import { createApiKey } from '../src/auth/key-admin.js';
import type { App } from '../src/app/app.js';

async function call(
  app: App,
  url: string,
  o: { method?: string; headers?: Record<string, string>; from?: string; body?: string } = {},
) {
  const r = await app.server.inject({
    method: (o.method ?? 'GET') as 'GET',
    url,
    headers: o.headers ?? {},
    ...(o.from ? { remoteAddress: o.from } : {}),
    ...(o.body !== undefined ? { payload: o.body } : {}),
  });
  const body = r.body === '' ? {} : (JSON.parse(r.body) as { code?: string; error?: string });
  return { status: r.statusCode, body, headers: r.headers };
}

/** Raw request bytes over a real socket: the status line of the answer. */
async function rawStatus(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('close', () => resolve(got.split('\r\n')[0] ?? ''));
    s.on('error', () => resolve(got.split('\r\n')[0] ?? 'error'));
    s.setTimeout(3000, () => s.destroy());
  });
}

describe('Host handling', () => {
  test('two Host headers are 400 on every route, probes included (RFC 9112 §3.2)', async () => {
    const { app, cleanup } = await testApp();
    try {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as AddressInfo).port;
      for (const path of ['/healthz', '/messages', '/nowhere']) {
        const line = await rawStatus(
          port,
          `GET ${path} HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(line, 'HTTP/1.1 400 Bad Request', path);
      }
      const one = await rawStatus(
        port,
        'GET /messages HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
      );
      assert.equal(one, 'HTTP/1.1 200 OK');
    } finally {
      await cleanup();
    }
  });

  test('protected mode: only loopback names (and allowedHosts) let an anonymous loopback client in, not any IP literal', async () => {
    const { app, cleanup } = await testApp({ API_ALLOWED_HOSTS: '' });
    try {
      for (const host of [
        'localhost',
        'localhost:3000',
        '127.0.0.1',
        '127.0.0.1:3000',
        '[::1]',
        '[::1]:3000',
      ]) {
        const r = await call(app, '/messages', { headers: { host } });
        assert.equal(r.status, 200, `${host}: ${JSON.stringify(r.body)}`);
      }
      for (const host of ['0.0.0.0', '8.8.8.8', '[::]', '[2001:db8::1]', '10.0.0.1:3000', 'evil.example']) {
        const r = await call(app, '/messages', { headers: { host } });
        assert.equal(r.status, 403, host);
        assert.equal(r.body.code, 'PROTECTED_MODE');
        assert.match(r.body.error ?? '', /localhost, 127\.0\.0\.1 or \[::1\]/);
      }
    } finally {
      await cleanup();
    }
    // an allowedHosts name works too
    const t = await testApp({ API_ALLOWED_HOSTS: 'scheduler.internal' });
    try {
      assert.equal((await call(t.app, '/messages', { headers: { host: 'scheduler.internal' } })).status, 200);
    } finally {
      await t.cleanup();
    }
  });
});

describe('protected mode does not reopen', () => {
  test('revoking every key keeps the API closed to anonymous loopback clients; the CLI way in still works', async () => {
    const { app, cleanup } = await testApp({ AUTH_KEY_REFRESH_INTERVAL: '100ms' });
    try {
      assert.equal((await call(app, '/messages')).status, 200, 'protected mode: loopback is anonymous admin');
      const made = await call(app, '/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'first', scopes: ['admin', 'messages:read'] }),
      });
      assert.equal(made.status, 201);
      const { id, key } = made.body as unknown as { id: string; key: string };
      assert.equal((await call(app, '/messages')).status, 401, 'closed once a key exists');
      const auth = { authorization: `Bearer ${key}` };
      assert.equal((await call(app, `/keys/${id}`, { method: 'DELETE', headers: auth })).status, 200);
      // no key is left: before, every local process was an anonymous admin again
      const anon = await call(app, '/messages');
      assert.equal(anon.status, 401, JSON.stringify(anon.body));
      const mint = await call(app, '/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'sneaky', scopes: ['admin'] }),
      });
      assert.equal(mint.status, 401, 'nobody can mint a key anonymously');
      // the operator's way in: a key written to the store directly (message-scheduler keys create)
      const cli = await createApiKey(app.store.keys, 'ops', ['messages:read']);
      await waitFor(
        async () =>
          (await call(app, '/messages', { headers: { authorization: `Bearer ${cli.key}` } })).status === 200,
        5000,
        'the CLI key to work',
      );
    } finally {
      await cleanup();
    }
  });

  test('a process started on a store whose only keys are revoked stays closed too', async () => {
    const first = await testApp({ AUTH_KEY_REFRESH_INTERVAL: '100ms' });
    const made = await createApiKey(first.app.store.keys, 'gone', ['admin']);
    await first.app.store.keys.revokeKey(made.record.id, new Date());
    await first.app.access.auth.keys.refresh();
    try {
      assert.equal((await call(first.app, '/messages')).status, 401);
    } finally {
      await first.cleanup();
    }
  });
});

const LIMITED = {
  API_RATE_LIMITER_ENABLED: 'true',
  API_RATE_LIMITER_MAX_TOKENS: '20',
  API_RATE_LIMITER_REFILL_RATE: '1',
  API_RATE_LIMITER_REFILL_INTERVAL: '1h',
  API_AUTH: 'none',
};

describe('every answer draws on the rate limit', () => {
  test('404, 405 and 401 answers take tokens and turn into 429 when the bucket is empty', async () => {
    for (const [what, url, o] of [
      ['404', '/nowhere', {}],
      ['405', '/messages', { method: 'PATCH' }],
      [
        '401 (unknown key)',
        '/messages',
        { headers: { authorization: 'Bearer ms_000000000000_' + 'x'.repeat(43) } },
      ],
      ['401 (malformed header)', '/messages', { headers: { authorization: 'Basic abc' } }],
      ['401 (JWT in X-API-Key)', '/messages', { headers: { 'x-api-key': 'eyJhbGciOiJSUzI1NiJ9.e30.sig' } }],
    ] as const) {
      const { app, cleanup } = await testApp(LIMITED);
      try {
        const statuses: number[] = [];
        for (let i = 0; i < 22; i++)
          statuses.push((await call(app, url, o as Parameters<typeof call>[2])).status);
        const first = statuses[0] ?? 0;
        assert.ok(first >= 400 && first < 429, `${what}: first answer ${first}`);
        assert.equal(statuses.filter((s) => s === 429).length, 2, `${what}: ${statuses.join(',')}`);
        const limited = await call(app, url, o as Parameters<typeof call>[2]);
        assert.equal(limited.status, 429);
        assert.equal(limited.body.code, 'RATE_LIMITED');
        assert.ok(limited.headers['retry-after']);
      } finally {
        await cleanup();
      }
    }
  });

  test('anonymous clients: every loopback address is one client; other addresses are not', async () => {
    const { app, cleanup } = await testApp(LIMITED);
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 40; i++)
        statuses.push((await call(app, '/messages?limit=1', { from: `127.0.0.${2 + (i % 4)}` })).status);
      // before: one bucket per address, 40 x 200
      assert.equal(statuses.filter((s) => s === 200).length, 20, statuses.join(','));
      // an IPv6 client is one client across its /64 (inject cannot send from IPv6: client-address unit test)
      assert.equal((await call(app, '/messages?limit=1', { from: '203.0.113.7' })).status, 200);
    } finally {
      await cleanup();
    }
  });

  test('a page costs a token per 100 messages asked for: 1,000 at a time costs 10', async () => {
    const { app, cleanup } = await testApp(LIMITED);
    try {
      const big: number[] = [];
      for (let i = 0; i < 3; i++)
        big.push((await call(app, '/messages?limit=1000', { from: '198.51.100.1' })).status);
      assert.deepEqual(big, [200, 200, 429]);
      const small: number[] = [];
      for (let i = 0; i < 21; i++)
        small.push((await call(app, '/sent-messages?limit=100', { from: '198.51.100.2' })).status);
      assert.equal(small.filter((s) => s === 200).length, 20);
      const page = await call(app, '/messages?limit=500', { from: '198.51.100.3' });
      assert.match(String(page.headers.ratelimit), /r=15;/, 'RateLimit shows the 5 tokens taken');
    } finally {
      await cleanup();
    }
  });
});

describe('tokens and keys', () => {
  test('a key made over HTTP expires: 90 days by default, never later than auth.apiKeyMaxLifetime; expired, it is refused', async () => {
    const { app, cleanup } = await testApp({ AUTH_KEY_REFRESH_INTERVAL: '100ms' });
    try {
      const admin = await createApiKey(app.store.keys, 'root', ['admin']);
      await app.access.auth.keys.refresh();
      const auth = { authorization: `Bearer ${admin.key}`, 'content-type': 'application/json' };
      const make = (body: object) =>
        call(app, '/keys', { method: 'POST', headers: auth, body: JSON.stringify(body) });
      const plain = await make({ name: 'plain', scopes: ['messages:read'] });
      assert.equal(plain.status, 201);
      const exp = Date.parse(String((plain.body as { expires_at?: string }).expires_at));
      const ninety = Date.now() + 90 * 86_400_000;
      assert.ok(Math.abs(exp - ninety) < 60_000, `default expiry ${new Date(exp).toISOString()}`);
      for (const [what, at, re] of [
        ['in 2999', '2999-01-01T00:00:00Z', /later than auth\.apiKeyMaxLifetime/],
        ['in the past', '2020-01-01T00:00:00Z', /in the future/],
        ['not a time', 'soon', /date-time|valid time/],
      ] as const) {
        const r = await make({ name: 'x', scopes: ['admin'], expires_at: at });
        assert.equal(r.status, 400, what);
        assert.match(r.body.error ?? '', re, what);
      }
      const short = await make({
        name: 'short',
        scopes: ['messages:read'],
        expires_at: new Date(Date.now() + 1500).toISOString(),
      });
      assert.equal(short.status, 201);
      const key = (short.body as { key: string }).key;
      assert.equal(
        (await call(app, '/messages', { headers: { authorization: `Bearer ${key}` } })).status,
        200,
      );
      await new Promise((r) => setTimeout(r, 1600));
      const late = await call(app, '/messages', { headers: { authorization: `Bearer ${key}` } });
      assert.equal(late.status, 401);
      assert.match(late.body.error ?? '', /expired/);
      const listed = await call(app, '/keys', { headers: auth });
      assert.ok(
        (listed.body as unknown as { name: string; expires_at: string | null }[]).every((k) =>
          k.name === 'root' ? k.expires_at === null : k.expires_at !== null,
        ),
        'the CLI-made key never expires; HTTP-made keys do',
      );
    } finally {
      await cleanup();
    }
    const open = await testApp({ AUTH_API_KEY_MAX_LIFETIME: '0' });
    try {
      const r = await call(open.app, '/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'forever', scopes: ['admin'] }),
      });
      assert.equal(r.status, 201);
      assert.equal((r.body as { expires_at?: unknown }).expires_at, null, 'no bound: no expiry unless asked');
    } finally {
      await open.cleanup();
    }
  });

  test('X-API-Key takes API keys only: a JWT there is 401 invalid_request, naming Authorization: Bearer', async () => {
    const { app, cleanup } = await testApp({ AUTH_KEY_REFRESH_INTERVAL: '100ms' });
    try {
      await createApiKey(app.store.keys, 'k', ['messages:read']);
      await app.access.auth.keys.refresh();
      const r = await call(app, '/messages', { headers: { 'x-api-key': 'eyJhbGciOiJSUzI1NiJ9.e30.sig' } });
      assert.equal(r.status, 401);
      assert.match(String(r.headers['www-authenticate']), /invalid_request/);
      assert.match(r.body.error ?? '', /Authorization: Bearer/);
    } finally {
      await cleanup();
    }
  });
});

describe('security headers and CORS patterns', () => {
  test('Strict-Transport-Security only over HTTPS: never on plain HTTP, or on a forwarded https from an untrusted peer', async () => {
    const plain = await testApp();
    try {
      const r = await call(plain.app, '/healthz');
      assert.equal(r.headers['strict-transport-security'], undefined, 'plain HTTP');
      const forged = await call(plain.app, '/healthz', { headers: { 'x-forwarded-proto': 'https' } });
      assert.equal(
        forged.headers['strict-transport-security'],
        undefined,
        'X-Forwarded-Proto from an untrusted peer',
      );
      assert.equal(r.headers['x-content-type-options'], 'nosniff', 'the other headers stay');
    } finally {
      await plain.cleanup();
    }
    const proxied = await testApp({ API_TRUST_PROXY: 'loopback' });
    try {
      const r = await call(proxied.app, '/healthz', {
        headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' },
      });
      assert.match(String(r.headers['strict-transport-security']), /max-age=\d+/, 'HTTPS at a trusted proxy');
    } finally {
      await proxied.cleanup();
    }
  });

  test("the HTTP parser's own answers (400, 431) carry the API's security headers", async () => {
    const { app, cleanup } = await testApp();
    try {
      await app.server.listen({ port: 0, host: '127.0.0.1' });
      const port = (app.server.server.address() as AddressInfo).port;
      const normal = await call(app, '/nowhere');
      const expected = Object.entries(normal.headers).filter(
        ([k]) =>
          k.startsWith('x-') ||
          k.startsWith('cross-origin') ||
          k === 'content-security-policy' ||
          k === 'referrer-policy',
      );
      assert.ok(expected.length >= 8, 'helmet headers on an ordinary error');
      for (const [what, request] of [
        ['400 (bad request line)', 'GET / HTTP/1.1 garbage\r\nHost: x\r\n\r\n'],
        ['400 (bad header)', 'GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n'],
        ['431', `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`],
      ] as const) {
        const raw = await new Promise<string>((resolve) => {
          const s = connect(port, '127.0.0.1', () => s.write(request));
          let got = '';
          s.on('data', (d: Buffer) => (got += d.toString('latin1')));
          s.on('close', () => resolve(got));
          s.on('error', () => resolve(got));
        });
        const head = raw.split('\r\n\r\n')[0]?.toLowerCase() ?? '';
        assert.match(head, /^http\/1\.1 4\d\d/, what);
        for (const [name, value] of expected) {
          assert.ok(head.includes(`\r\n${name}: ${String(value).toLowerCase()}`), `${what}: ${name}`);
        }
      }
    } finally {
      await cleanup();
    }
  });

  test('api.cors.origins: a subdomain pattern matches subdomains only; any other wildcard stops start-up', async () => {
    const { app, cleanup } = await testApp({ API_CORS_ORIGINS: 'https://*.example.com https://exact.test' });
    try {
      const preflight = (origin: string) =>
        call(app, '/messages', {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST' },
        });
      for (const origin of ['https://app.example.com', 'https://a.b.example.com', 'https://exact.test']) {
        assert.equal((await preflight(origin)).headers['access-control-allow-origin'], origin, origin);
      }
      for (const origin of [
        'https://example.com',
        'http://app.example.com',
        'https://app.example.com.evil.test',
        'https://evilexample.com',
      ]) {
        assert.equal((await preflight(origin)).headers['access-control-allow-origin'], undefined, origin);
      }
      // the cross-site guard follows the same rule
      const post = (origin: string) =>
        call(app, '/messages', {
          method: 'POST',
          headers: { origin, 'content-type': 'application/json' },
          body: '{"content":"hi","recipient_phone_number":"+1"}',
        });
      assert.equal((await post('https://app.example.com')).status, 201);
      assert.equal((await post('https://evilexample.com')).status, 403);
    } finally {
      await cleanup();
    }
    const { loadConfig } = await import('../src/config/config.js');
    for (const bad of [
      'https://*.example',
      '*',
      'https://app.*.com',
      'https://*example.com',
      'https://*.*.example.com',
    ]) {
      assert.throws(
        () => loadConfig({ API_CORS_ORIGINS: bad }),
        /api\.cors\.origins .*subdomain pattern/,
        bad,
      );
    }
  });
});
