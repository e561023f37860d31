/**
 * What access control costs an API request, and how exactly the per-client
 * token bucket holds (`npm run bench:access`). Each scenario is a fresh service
 * process on SQLite; the load is GET /worker-pool/state (no store call), so
 * the figures are the access hooks' own cost. Printed as medians of --repeat runs.
 */
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { median, startCli, type Proc } from './processes.js';
import { configItem, generateKey } from '../src/auth/api-keys.js';

const PORT_A = 38211;
const PORT_B = 38212;
const JWKS_PORT = 38213;

interface Scenario {
  name: string;
  env: Record<string, string>;
  headers: Record<string, string>;
}

async function start(port: number, env: Record<string, string>, dir: string): Promise<Proc> {
  const proc = startCli(['serve'], {
    SQLITE_PATH: join(dir, 'messages.db'),
    PORT: String(port),
    HOST: '127.0.0.1',
    WEBHOOK_URL: 'http://127.0.0.1:9/unused',
    POOL_INITIAL_JOB_FETCH: 'false',
    API_RATE_LIMITER_ENABLED: 'false',
    ...env,
  });
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/healthz`)).ok) return proc;
    } catch {
      // not yet
    }
    if (Date.now() > end) throw new Error(`service did not start: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** n requests over `connections` keep-alive connections: requests/s and latency percentiles. */
async function load(port: number, headers: Record<string, string>, n: number, connections: number) {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections, pipelining: 1 });
  const lat: number[] = [];
  const codes = new Map<number, number>();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (next < n) {
        next++;
        const s = performance.now();
        const r = await pool.request({ method: 'GET', path: '/worker-pool/state', headers });
        await r.body.text();
        lat.push(performance.now() - s);
        codes.set(r.statusCode, (codes.get(r.statusCode) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  lat.sort((a, b) => a - b);
  return {
    rps: n / seconds,
    p50: lat[Math.floor(lat.length * 0.5)] ?? NaN,
    p99: lat[Math.floor(lat.length * 0.99)] ?? NaN,
    codes: Object.fromEntries(codes),
  };
}

/** Full speed for `seconds` at one or two nodes: how many requests the bucket let through. */
async function accuracy(ports: number[], headers: Record<string, string>, seconds: number) {
  const pools = ports.map((p) => new Pool(`http://127.0.0.1:${p}`, { connections: 8 }));
  let ok = 0;
  let limited = 0;
  const end = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    pools.flatMap((pool) =>
      Array.from({ length: 8 }, async () => {
        while (performance.now() < end) {
          const r = await pool.request({ method: 'GET', path: '/worker-pool/state', headers });
          await r.body.text();
          if (r.statusCode === 200) ok++;
          else if (r.statusCode === 429) limited++;
        }
      }),
    ),
  );
  const elapsed = (performance.now() - t0) / 1000;
  await Promise.all(pools.map((p) => p.close()));
  return { ok, limited, elapsed };
}

async function jwksServer(): Promise<{ server: Server; token: string }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench', alg: 'RS256', use: 'sig' };
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
  });
  await new Promise<void>((r) => server.listen(JWKS_PORT, '127.0.0.1', r));
  const token = await new SignJWT({ scope: 'pool:control' })
    .setProtectedHeader({ alg: 'RS256', kid: 'bench' })
    .setIssuer('http://bench.invalid')
    .setAudience('urn:bench')
    .setSubject('bench-client')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(privateKey);
  return { server, token };
}

export async function runAccessBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { n: { type: 'string' }, repeat: { type: 'string' }, seconds: { type: 'string' } },
  });
  const n = Number(values.n ?? 20_000);
  const repeat = Number(values.repeat ?? 3);
  const seconds = Number(values.seconds ?? 5);
  const redis = process.env.REDIS_URI ?? '';
  const { key } = generateKey();
  const keyEnv = { AUTH_API_KEYS: configItem('bench', ['pool:control'], key) };
  const auth = { authorization: `Bearer ${key}` };
  const bucketEnv = {
    API_RATE_LIMITER_ENABLED: 'true',
    API_RATE_LIMITER_MAX_TOKENS: '1000000000',
    API_RATE_LIMITER_REFILL_RATE: '1000000000',
    API_RATE_LIMITER_REFILL_INTERVAL: '1s',
  };
  const jwks = await jwksServer();
  const jwtEnv = {
    AUTH_JWT_JWKS_URL: `http://127.0.0.1:${JWKS_PORT}/jwks`,
    AUTH_JWT_ALLOW_HTTP_LOOPBACK: 'true',
    AUTH_JWT_ISSUER: 'http://bench.invalid',
    AUTH_JWT_AUDIENCE: 'urn:bench',
  };
  const scenarios: Scenario[] = [
    { name: 'anonymous (loopback), no limiter', env: {}, headers: {} },
    { name: 'API key, no limiter', env: keyEnv, headers: auth },
    { name: 'API key, memory bucket', env: { ...keyEnv, ...bucketEnv }, headers: auth },
    ...(redis
      ? [{ name: 'API key, Redis bucket', env: { ...keyEnv, ...bucketEnv, REDIS_URI: redis }, headers: auth }]
      : []),
    { name: 'JWT (RS256), no limiter', env: jwtEnv, headers: { authorization: `Bearer ${jwks.token}` } },
  ];
  const dir = mkdtempSync(join(tmpdir(), 'ms-bench-access-'));
  const runs = new Map<string, Array<Awaited<ReturnType<typeof load>>>>();
  try {
    for (let r = 0; r < repeat; r++) {
      for (const s of scenarios) {
        const proc = await start(PORT_A, s.env, dir);
        try {
          await load(PORT_A, s.headers, 2000, 32); // warm-up
          const res = await load(PORT_A, s.headers, n, 32);
          if (res.codes[200] !== n) throw new Error(`${s.name}: ${JSON.stringify(res.codes)}`);
          runs.set(s.name, [...(runs.get(s.name) ?? []), res]);
        } finally {
          await proc.stop();
        }
      }
    }
    const base = median((runs.get(scenarios[0]?.name ?? '') ?? []).map((x) => x.rps));
    process.stdout.write(
      `\nAPI access cost: GET /worker-pool/state, ${n} requests over 32 connections, median of ${repeat}\n\n`,
    );
    process.stdout.write(
      '| scenario | requests/s | vs anonymous | p50 ms | p99 ms |\n|---|---:|---:|---:|---:|\n',
    );
    for (const s of scenarios) {
      const xs = runs.get(s.name) ?? [];
      const rps = median(xs.map((x) => x.rps));
      process.stdout.write(
        `| ${s.name} | ${rps.toFixed(0)} | ${((rps / base) * 100).toFixed(0)}% | ${median(xs.map((x) => x.p50)).toFixed(2)} | ${median(xs.map((x) => x.p99)).toFixed(2)} |\n`,
      );
    }

    // how exactly the bucket holds: 100 at once, 100 per second, at full speed for `seconds`
    const limitEnv = {
      ...keyEnv,
      API_RATE_LIMITER_ENABLED: 'true',
      API_RATE_LIMITER_MAX_TOKENS: '100',
      API_RATE_LIMITER_REFILL_RATE: '100',
      API_RATE_LIMITER_REFILL_INTERVAL: '1s',
    };
    process.stdout.write(
      `\nBucket accuracy: maxTokens 100, refillRate 100/s, one client at full speed for ${seconds} s\n\n`,
    );
    process.stdout.write(
      '| setup | accepted | allowed (100 + 100/s × elapsed) | error | refused (429) |\n|---|---:|---:|---:|---:|\n',
    );
    const setups: Array<{ name: string; nodes: number; env: Record<string, string> }> = [
      { name: 'one node, memory', nodes: 1, env: limitEnv },
      ...(redis
        ? [
            {
              name: 'one node, Redis',
              nodes: 1,
              env: { ...limitEnv, REDIS_URI: redis, CACHE_KEY_PREFIX: `bench${Date.now()}:` },
            },
            {
              name: 'two nodes, one Redis',
              nodes: 2,
              env: { ...limitEnv, REDIS_URI: redis, CACHE_KEY_PREFIX: `bench2${Date.now()}:` },
            },
          ]
        : []),
      { name: 'two nodes, memory (each its own bucket)', nodes: 2, env: limitEnv },
    ];
    for (const setup of setups) {
      const ports = setup.nodes === 2 ? [PORT_A, PORT_B] : [PORT_A];
      const procs = await Promise.all(ports.map((p) => start(p, setup.env, dir)));
      try {
        const res = await accuracy(ports, auth, seconds);
        const allowed = 100 + 100 * res.elapsed;
        process.stdout.write(
          `| ${setup.name} | ${res.ok} | ${allowed.toFixed(0)} | ${(((res.ok - allowed) / allowed) * 100).toFixed(1)}% | ${res.limited} |\n`,
        );
      } finally {
        await Promise.all(procs.map((p) => p.stop()));
      }
    }
  } finally {
    jwks.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
