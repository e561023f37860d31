/**
 * OAuth2 bearer tokens against a real authorization server: oidc-provider on
 * loopback issuing client-credentials JWT access tokens. The cases that no
 * well-behaved server issues (a future nbf, another issuer, alg none, HS256
 * with the public key, an unpublished kid) are signed here, with the server's
 * own private key where a real server's key is what makes the case.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type JWK } from 'jose';
import { testApp, waitFor } from './helpers/app.js';
import type { App } from '../src/app/app.js';

const AUDIENCE = 'urn:message-scheduler';
const ALL = 'messages:read messages:write pool:control admin';

interface Key {
  kid: string;
  privateJwk: JWK;
  privateKey: Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
  publicJwk: JWK;
}

async function makeKey(kid: string): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return {
    kid,
    privateKey,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256', use: 'sig' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/** One authorization server on a fixed port; restarted with other keys to rotate them. */
class AuthServer {
  server: Server | null = null;
  jwksRequests = 0;
  constructor(
    readonly port: number,
    readonly issuer: string,
  ) {}

  async start(keys: Key[]): Promise<void> {
    const provider = new Provider(this.issuer, {
      clients: [
        {
          client_id: 'all',
          client_secret: 'all-secret',
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
        {
          client_id: 'short',
          client_secret: 'short-secret',
          grant_types: ['client_credentials'],
          redirect_uris: [],
          response_types: [],
        },
      ],
      jwks: { keys: keys.map((k) => k.privateJwk) },
      features: {
        devInteractions: { enabled: false },
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => AUDIENCE,
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, _resource, client) => ({
            scope: ALL,
            audience: AUDIENCE,
            accessTokenFormat: 'jwt',
            accessTokenTTL: client.clientId === 'short' ? 1 : 300,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
    });
    const handle = provider.callback();
    this.server = createServer((req, res) => {
      if (req.url?.startsWith('/jwks')) this.jwksRequests++;
      void handle(req, res);
    });
    await new Promise<void>((resolve) => this.server?.listen(this.port, '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }

  async token(client: 'all' | 'short', scope: string): Promise<string> {
    const res = await fetch(`${this.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client}:${client}-secret`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope, resource: AUDIENCE }),
    });
    const body = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
    if (!body.access_token) throw new Error(`token endpoint: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

let as: AuthServer;
let keyA: Key;
let keyB: Key;
let app: App;
let cleanup: () => Promise<void>;

before(async () => {
  const port = await freePort();
  as = new AuthServer(port, `http://127.0.0.1:${port}`);
  [keyA, keyB] = await Promise.all([makeKey('key-a'), makeKey('key-b')]);
  await as.start([keyA]);
  ({ app, cleanup } = await testApp({
    AUTH_JWT_JWKS_URL: `${as.issuer}/jwks`,
    // the authorization server of the test runs on loopback, over plain HTTP
    AUTH_JWT_ALLOW_HTTP_LOOPBACK: 'true',
    AUTH_JWT_ISSUER: as.issuer,
    AUTH_JWT_AUDIENCE: AUDIENCE,
    AUTH_JWT_CLOCK_TOLERANCE: '1s',
    AUTH_JWT_JWKS_COOLDOWN: '1s',
    // short, so the outage below outlasts the cache: jose alone would then refuse every token
    AUTH_JWT_JWKS_MAX_AGE: '1s',
  }));
});
after(async () => {
  await cleanup();
  await as.stop();
});

const req = async (
  token: string,
  method: 'GET' | 'POST' | 'PUT' = 'GET',
  url = '/messages',
  payload?: object,
) => {
  const r = await app.server.inject({
    method,
    url,
    headers: { authorization: `Bearer ${token}` },
    ...(payload ? { payload } : {}),
  });
  return {
    status: r.statusCode,
    www: String(r.headers['www-authenticate'] ?? ''),
    body: r.json() as Record<string, unknown>,
  };
};

/** A token as the server would sign it, with claims changed by the case. */
function craft(key: Key, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: 'messages:read', client_id: 'all', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt', ...header })
    .setIssuer(String(claims.iss ?? as.issuer))
    .setAudience(String(claims.aud ?? AUDIENCE))
    .setSubject('all')
    .setIssuedAt(now)
    .setExpirationTime(Number(claims.exp ?? now + 300))
    .sign(key.privateKey);
}

describe('OAuth2 tokens from oidc-provider (client credentials, JWT access tokens)', () => {
  test('a valid token per scope: its scope lets in, the others are 403', async () => {
    const read = await as.token('all', 'messages:read');
    assert.equal((await req(read)).status, 200);
    const denied = await req(read, 'POST', '/messages', {
      content: 'x',
      recipient_phone_number: '+905551111111',
    });
    assert.equal(denied.status, 403);
    assert.match(denied.www, /insufficient_scope/);

    const write = await as.token('all', 'messages:write');
    const created = await req(write, 'POST', '/messages', {
      content: 'x',
      recipient_phone_number: '+905551111111',
    });
    assert.equal(created.status, 201);
    assert.equal((await req(write)).status, 403);

    const pool = await as.token('all', 'pool:control');
    assert.equal((await req(pool, 'PUT', '/worker-pool/state', { action: 'pause' })).status, 200);
    const admin = await as.token('all', 'admin');
    assert.equal((await req(admin, 'GET', '/keys')).status, 200);
    assert.equal((await req(admin)).status, 403);
    const everything = await as.token('all', ALL);
    assert.equal((await req(everything)).status, 200);
    assert.equal((await req(everything, 'GET', '/keys')).status, 200);
    // scp (an array, as some servers send it) counts like scope
    assert.equal((await req(await craft(keyA, { scope: undefined, scp: ['messages:read'] }))).status, 200);
  });

  test('expired (a real 1-second token), not yet valid, wrong issuer, wrong audience: 401 invalid_token', async () => {
    const short = await as.token('short', 'messages:read');
    assert.equal((await req(short)).status, 200);
    await new Promise((r) => setTimeout(r, 2600));
    const expired = await req(short);
    assert.equal(expired.status, 401);
    assert.match(expired.www, /error="invalid_token", error_description="the token has expired"/);

    const cases: [string, Promise<string>, RegExp][] = [
      ['not yet valid', craft(keyA, { nbf: Math.floor(Date.now() / 1000) + 3600 }), /not valid yet/],
      ['wrong issuer', craft(keyA, { iss: 'http://127.0.0.1:1' }), /another issuer/],
      ['wrong audience', craft(keyA, { aud: 'urn:other' }), /another audience/],
    ];
    for (const [what, token, re] of cases) {
      const r = await req(await token);
      assert.equal(r.status, 401, what);
      assert.match(r.www, re, what);
      assert.equal(r.body.code, 'UNAUTHORIZED');
    }
  });

  test('alg none, and HS256 signed with the public key: refused', async () => {
    const none = new UnsecuredJWT({ scope: ALL })
      .setIssuer(as.issuer)
      .setAudience(AUDIENCE)
      .setSubject('x')
      .setExpirationTime('5m')
      .encode();
    const r1 = await req(none);
    assert.equal(r1.status, 401);
    assert.match(r1.www, /invalid_token/);
    // the classic confusion: the RSA public key (PEM, as a verifier may hold it) as an HMAC secret
    const pem = createPublicKey({ key: keyA.publicJwk as JsonWebKey, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const hs = await new SignJWT({ scope: ALL })
      .setProtectedHeader({ alg: 'HS256', kid: keyA.kid })
      .setIssuer(as.issuer)
      .setAudience(AUDIENCE)
      .setSubject('x')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(String(pem)));
    const r2 = await req(hs);
    assert.equal(r2.status, 401);
    assert.match(r2.www, /algorithm that is not allowed/);
  });

  test('key rotation: an unknown kid makes the JWKS be fetched again, then the new key is accepted', async () => {
    await as.stop();
    await as.start([keyB, keyA]);
    await new Promise((r) => setTimeout(r, 1100)); // past the cooldown of the last fetch
    const before = as.jwksRequests;
    const rotated = await as.token('all', 'messages:read');
    assert.equal(JSON.parse(Buffer.from(rotated.split('.')[0] ?? '', 'base64url').toString()).kid, 'key-b');
    assert.equal((await req(rotated)).status, 200);
    assert.equal(as.jwksRequests, before + 1);
    // tokens of the old key still pass (it is still published)
    assert.equal((await req(await craft(keyA))).status, 200);
  });

  test('JWKS endpoint down: cached keys keep working; a new kid fails closed; refetches are rate-limited', async () => {
    const keyC = await makeKey('key-c');
    const stillGood = await craft(keyB);
    await as.stop();
    await new Promise((r) => setTimeout(r, 1100)); // the cached JWKS is now older than its max age
    assert.equal((await req(stillGood)).status, 200);
    assert.equal((await req(await craft(keyA))).status, 200);
    const unknown = await Promise.all(Array.from({ length: 20 }, async () => req(await craft(keyC))));
    for (const r of unknown) {
      assert.equal(r.status, 401);
      assert.match(r.www, /invalid_token/);
    }
    // back up with key C: accepted once the cooldown allows a fetch
    await as.start([keyC, keyB]);
    const count = as.jwksRequests;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal((await req(await craft(keyC))).status, 200);
    assert.ok(as.jwksRequests - count <= 1, `${as.jwksRequests - count} JWKS requests`);
    // a flood of made-up kids costs one JWKS request per cooldown at most
    const flood = as.jwksRequests;
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => req(await craft({ ...keyC, kid: `made-up-${i}` }))),
    );
    assert.ok(as.jwksRequests - flood <= 1, `${as.jwksRequests - flood} JWKS requests for 50 made-up kids`);
  });
});

describe('what jose does not check, and a JWKS that misbehaves (issue 21)', () => {
  test('typ, iat in the future and the longest lifetime: refused with a reason; access tokens of any usual typ pass', async () => {
    const now = Math.floor(Date.now() / 1000);
    const refused: [string, Promise<string>, RegExp][] = [
      ['exp in 2999', craft(keyB, { exp: 32_503_680_000 }), /lives longer than auth\.jwt\.maxTokenLifetime/],
      ['25 hours', craft(keyB, { exp: now + 25 * 3600 }), /lives longer/],
      [
        'iat a day ahead',
        craft(keyB, {}, {}).then(() =>
          new SignJWT({ scope: 'messages:read' })
            .setProtectedHeader({ alg: 'RS256', kid: keyB.kid, typ: 'at+jwt' })
            .setIssuer(as.issuer)
            .setAudience(AUDIENCE)
            .setSubject('all')
            .setIssuedAt(now + 86_400)
            .setExpirationTime(now + 300)
            .sign(keyB.privateKey),
        ),
        /issued in the future/,
      ],
      ['an ID token', craft(keyB, {}, { typ: 'id_token+jwt' }), /typ 'id_token\+jwt' is not an access token/],
      ['a logout token', craft(keyB, {}, { typ: 'logout+jwt' }), /not an access token/],
    ];
    for (const [what, token, re] of refused) {
      const r = await req(await token);
      assert.equal(r.status, 401, what);
      assert.match(r.www, re, what);
    }
    for (const typ of ['JWT', 'at+jwt', 'application/at+jwt', undefined]) {
      const r = await req(await craft(keyB, {}, { typ }));
      assert.equal(r.status, 200, `typ ${String(typ)}`);
    }
    // a real server's token passes: its lifetime (300 s) is under the default 24 h
    assert.equal((await req(await as.token('all', 'messages:read'))).status, 200);
  });

  test('a key withdrawn from the JWKS is refused within auth.jwt.jwksMaxAge, for tokens checked before too', async () => {
    const keyD = await makeKey('key-d');
    await as.stop();
    await as.start([keyD, keyB]);
    await new Promise((r) => setTimeout(r, 1100)); // past the cooldown
    const token = await craft(keyD);
    assert.equal((await req(token)).status, 200, 'accepted (and now remembered as checked)');
    // withdrawn: the server publishes key B alone
    await as.stop();
    await as.start([keyB]);
    const t0 = Date.now();
    await waitFor(async () => (await req(token)).status === 401, 5000, 'the withdrawn key to be refused');
    const took = Date.now() - t0;
    assert.ok(took < 3000, `refused after ${took} ms (jwksMaxAge is 1 s here)`);
    assert.equal((await req(await craft(keyD))).status, 401, 'a new token of the key too');
  });

  test('an endless JWKS body is not read on: refused fast, no memory growth; a large declared one is refused unread', async () => {
    let served = 0;
    const endless = createServer((rq, res) => {
      served++;
      if (rq.url === '/declared') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(50 * 1024 * 1024),
        });
        res.write('{"keys":[');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"keys":[');
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    const port = (endless.address() as { port: number }).port;
    try {
      for (const path of ['/endless', '/declared']) {
        const t = await testApp({
          AUTH_JWT_JWKS_URL: `http://127.0.0.1:${port}${path}`,
          AUTH_JWT_ALLOW_HTTP_LOOPBACK: 'true',
          AUTH_JWT_ISSUER: as.issuer,
          AUTH_JWT_AUDIENCE: AUDIENCE,
        });
        try {
          const rss0 = process.memoryUsage().rss;
          const t0 = Date.now();
          const r = await t.app.server.inject({
            url: '/messages',
            headers: { authorization: `Bearer ${await craft(keyB)}` },
          });
          const took = Date.now() - t0;
          assert.equal(r.statusCode, 401, path);
          assert.ok(took < 2500, `${path}: answered in ${took} ms (the JWKS timeout is 3 s)`);
          const grew = (process.memoryUsage().rss - rss0) / 1e6;
          assert.ok(grew < 50, `${path}: memory grew ${grew.toFixed(0)} MB`);
        } finally {
          await t.cleanup();
        }
      }
      assert.ok(served >= 2);
    } finally {
      endless.closeAllConnections();
      await new Promise((r) => endless.close(r));
    }
  });

  test('a plain http JWKS URL is refused at start unless on loopback and allowed', async () => {
    const { loadConfig } = await import('../src/config/config.js');
    const base = { CONFIG_PATH: '.config', CONFIG_ENV: 'dev', AUTH_JWT_ISSUER: 'x', AUTH_JWT_AUDIENCE: 'y' };
    const cases: [Record<string, string>, RegExp | null][] = [
      [{ AUTH_JWT_JWKS_URL: 'http://id.example.com/jwks' }, /expected an https:\/\/ URL \(plain http/],
      [
        { AUTH_JWT_JWKS_URL: 'http://id.example.com/jwks', AUTH_JWT_ALLOW_HTTP_LOOPBACK: 'true' },
        /expected an https/,
      ],
      [{ AUTH_JWT_JWKS_URL: 'http://127.0.0.1:9/jwks' }, /needs auth\.jwt\.allowHttpLoopback/],
      [{ AUTH_JWT_JWKS_URL: 'http://localhost:9/jwks', AUTH_JWT_ALLOW_HTTP_LOOPBACK: 'true' }, null],
      [{ AUTH_JWT_JWKS_URL: 'https://id.example.com/jwks' }, null],
    ];
    for (const [env, re] of cases) {
      if (re) assert.throws(() => loadConfig({ ...base, ...env }), re, JSON.stringify(env));
      else assert.doesNotThrow(() => loadConfig({ ...base, ...env }), JSON.stringify(env));
    }
  });
});
