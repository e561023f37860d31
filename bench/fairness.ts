/**
 * `bench fairness`: what one client's flood of large pages does to everyone else. A service on a
 * store holding `--n` messages; one API key sends `GET /messages?limit=1000` over `--connections`
 * connections, back to back, for `--seconds`; meanwhile other clients send one request every
 * 100 ms each: `/healthz`, a small page with another key, `GET /worker-pool/state` with a third,
 * and anonymous `/healthz` on a new connection. Their latencies, alone and under the flood, are
 * what the outside check measured (16.1 s of waiting before issue 21).
 */
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { StoreKind } from '../src/config/config.js';
import { createApiKey } from '../src/auth/key-admin.js';
import { fmt, say, wholeNumber } from './report.js';
import { median, percentile, startCli, type Proc } from './processes.js';
import { analyzeFilled, fill, openStore, storeEnv } from './targets.js';

interface Victim {
  name: string;
  path: string;
  key: string | null;
  /** a new connection per request (as a load balancer's probe) */
  fresh: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function timed(pool: Pool | null, base: string, v: Victim): Promise<{ ms: number; status: number }> {
  const headers: Record<string, string> = v.key ? { authorization: `Bearer ${v.key}` } : {};
  const t0 = performance.now();
  try {
    if (pool) {
      const r = await pool.request({ method: 'GET', path: v.path, headers, headersTimeout: 30_000 });
      await r.body.text();
      return { ms: performance.now() - t0, status: r.statusCode };
    }
    const r = await fetch(base + v.path, { headers, signal: AbortSignal.timeout(30_000) });
    await r.text();
    return { ms: performance.now() - t0, status: r.status };
  } catch {
    return { ms: performance.now() - t0, status: 0 };
  }
}

/** One victim's requests every 100 ms until `stop`: latencies of the answered ones. */
async function victimLoop(base: string, v: Victim, stop: () => boolean): Promise<number[]> {
  const pool = v.fresh ? null : new Pool(base, { connections: 1 });
  const out: number[] = [];
  while (!stop()) {
    const r = await timed(pool, base, v);
    out.push(r.status === 0 ? Infinity : r.ms);
    await sleep(100);
  }
  await pool?.close();
  return out;
}

/** What the flood process reports: answers by status, and the 200s' latencies. */
export interface FloodReport {
  statuses: Record<string, number>;
  pageMs: number[];
}

/** The flood's client, run by `node --input-type=module -e` (undici from this install). */
const FLOOD_SCRIPT = `
import { Pool } from 'undici';
const [base, key, connections, limit, seconds] = process.argv.slice(1);
const pool = new Pool(base, { connections: Number(connections), pipelining: 1 });
const statuses = {};
const pageMs = [];
const end = Date.now() + Number(seconds) * 1000;
await Promise.all(Array.from({ length: Number(connections) }, async () => {
  while (Date.now() < end) {
    const t0 = performance.now();
    let status = 0;
    try {
      const r = await pool.request({ method: 'GET', path: '/messages?limit=' + limit,
        headers: { authorization: 'Bearer ' + key }, headersTimeout: 30000, bodyTimeout: 30000 });
      await r.body.text();
      status = r.statusCode;
    } catch { status = 0; }
    statuses[status] = (statuses[status] ?? 0) + 1;
    if (status === 200) pageMs.push(performance.now() - t0);
    // a 429 is answered at once: the client waits a little, as a real one would
    if (status === 429) await new Promise((r) => setTimeout(r, 50));
  }
}));
await pool.close();
process.stdout.write(JSON.stringify({ statuses, pageMs }));
`;

export function floodProcess(
  base: string,
  key: string,
  connections: number,
  limit: number,
  seconds: number,
): Promise<FloodReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        FLOOD_SCRIPT,
        base,
        key,
        String(connections),
        String(limit),
        String(seconds),
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as FloodReport)
        : reject(new Error(`the flood exited with ${code}`)),
    );
  });
}

export async function runFairnessBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      store: { type: 'string', default: 'sqlite' },
      n: { type: 'string' },
      connections: { type: 'string' },
      seconds: { type: 'string' },
      limit: { type: 'string' },
      // the API rate limiter off: what the request gate alone does
      unlimited: { type: 'boolean', default: false },
    },
  });
  const kind = values.store as StoreKind;
  const n = wholeNumber('bench fairness', 'n', values.n, 200_000);
  const connections = wholeNumber('bench fairness', 'connections', values.connections, 50);
  const seconds = wholeNumber('bench fairness', 'seconds', values.seconds, 20);
  const limit = wholeNumber('bench fairness', 'limit', values.limit, 1000);
  const target = storeEnv(kind, 'fair');
  const store = await openStore(target.env);
  let svc: Proc | null = null;
  try {
    say(
      `bench fairness: ${kind}, ${fmt(n)} messages, one key flooding GET /messages?limit=${limit} over ${connections} connections for ${seconds} s${values.unlimited ? ', API rate limiter off' : ''}`,
    );
    await fill(store, n);
    await analyzeFilled(kind, target.env);
    const flooder = (await createApiKey(store.keys, 'flooder', ['messages:read'])).key;
    const reader = (await createApiKey(store.keys, 'reader', ['messages:read'])).key;
    const operator = (await createApiKey(store.keys, 'operator', ['pool:control'])).key;
    await store.close();
    const port = 34_000 + (process.pid % 400) * 2;
    svc = startCli(['serve'], {
      ...target.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WEBHOOK_URL: 'http://127.0.0.1:9/unused',
      POOL_INITIAL_JOB_FETCH: 'false',
      LOG_LEVEL: 'error',
      ...(values.unlimited ? { API_RATE_LIMITER_ENABLED: 'false' } : {}),
    });
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if ((await fetch(`${base}/healthz`).catch(() => null))?.ok) break;
      if (i > 600) throw new Error(`the service did not start: ${svc.output()}`);
      await sleep(100);
    }
    const victims: Victim[] = [
      { name: '/healthz (kept-alive)', path: '/healthz', key: null, fresh: false },
      { name: '/healthz (new connection)', path: '/healthz', key: null, fresh: true },
      { name: 'another key: 10 messages', path: '/messages?limit=10', key: reader, fresh: false },
      { name: 'pool control: GET state', path: '/worker-pool/state', key: operator, fresh: false },
    ];
    const window = async (flood: boolean) => {
      let stopped = false;
      // the flood runs in a process of its own: reading 40 MB/s of pages would otherwise slow the
      // event loop that times everyone else's requests, and measure the benchmark, not the service
      const flooding = flood ? floodProcess(base, flooder, connections, limit, seconds) : null;
      const results = victims.map((v) => victimLoop(base, v, () => stopped));
      await sleep(seconds * 1000);
      stopped = true;
      const lat = await Promise.all(results);
      const report = (await flooding) ?? { statuses: {}, pageMs: [] };
      return {
        lat,
        statuses: new Map(Object.entries(report.statuses).map(([k, v]) => [Number(k), v])),
        pageMs: report.pageMs,
      };
    };
    const alone = await window(false);
    const loaded = await window(true);
    say('');
    say(
      '| request (every 100 ms) | alone p50 / p99 / max ms | under the flood p50 / p99 / max ms | failed |',
    );
    say('|---|---|---|---|');
    victims.forEach((v, i) => {
      const a = alone.lat[i] ?? [];
      const b = loaded.lat[i] ?? [];
      const f = (xs: number[]) =>
        `${fmt(median(xs), 1)} / ${fmt(percentile(xs, 99), 1)} / ${fmt(Math.max(...xs), 1)}`;
      say(`| ${v.name} | ${f(a)} | ${f(b)} | ${b.filter((x) => x === Infinity).length} of ${b.length} |`);
    });
    const pages = loaded.statuses.get(200) ?? 0;
    say('');
    say(
      `the flood: ${fmt(pages / seconds, 1)} pages/s answered 200 (p50 ${fmt(median(loaded.pageMs), 0)} ms, p99 ${fmt(percentile(loaded.pageMs, 99), 0)} ms), ` +
        `${loaded.statuses.get(429) ?? 0} answered 429, ${loaded.statuses.get(0) ?? 0} failed or timed out (30 s)`,
    );
  } finally {
    await svc?.stop('SIGTERM');
    await store.close().catch(() => undefined);
    await target.drop();
  }
}
