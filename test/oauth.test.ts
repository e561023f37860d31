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
import { testApp } from './helpers/app.js';
import type { App } from '../src/app.js';

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
