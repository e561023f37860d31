/**
 * `bench flood`: what a write flood on the API costs delivery. The delivery
 * rate is measured unloaded, then while clients flood `POST /messages` (or
 * `/messages/batch`) as fast as the API answers, in two layouts on one
 * PostgreSQL store: an `api` node taking the flood beside a separate `worker`
 * node, and one `all` node doing both. The flood's messages are due tomorrow,
 * so the backlog the workers deliver is the same in both windows.
 */
import { fmt, say, wholeNumber } from './report.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { StoreKind } from '../src/config/config.js';
import type { MessageStore } from '../src/store/store.js';
import { VERSION } from '../src/app/app.js';
import { getJson, median, percentile, startCli, waitUntil, type Proc } from './processes.js';
import { analyzeFilled, fill, openStore, storeEnv } from './targets.js';
import { setState, startNodes, stopNodes, type Node } from './nodes.js';

type Layout = 'split' | 'all';
type FloodKind = 'single' | 'batch';

interface FloodOptions {
  store: StoreKind;
  layouts: Layout[];
  kinds: FloodKind[];
  concurrency: number;
  latencyMs: number;
  clients: number;
  batchSize: number;
  seconds: number;
  repeat: number;
}

interface FloodRun {
  layout: Layout;
  kind: FloodKind;
  unloadedPerSec: number;
  loadedPerSec: number;
  ratio: number;
  /** the flood during the loaded window: requests answered per second, messages stored per second */
  floodRequestsPerSec: number;
  floodMessagesPerSec: number;
  floodErrors: number;
  floodP50Ms: number;
  floodP99Ms: number;
}

const BASE_PORT = 33_000 + (process.pid % 400) * 4;
const SINK_PORT = BASE_PORT;
const SINK = `http://127.0.0.1:${SINK_PORT}`;

const accepted = async (): Promise<number> => (await getJson<{ accepted: number }>(`${SINK}/stats`)).accepted;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Deliveries per second over `seconds`, from the receiver's count, once delivery has run for a second. */
async function deliveryRate(seconds: number): Promise<number> {
  await sleep(1000);
  const [a0, t0] = [await accepted(), performance.now()];
  await sleep(seconds * 1000);
  const [a1, t1] = [await accepted(), performance.now()];
  return (a1 - a0) / ((t1 - t0) / 1000);
}

interface Flood {
  /** starts counting: what `stop` reports covers only what was answered since */
  mark(): void;
  stop(): Promise<{ requests: number; messages: number; errors: number; latencies: number[]; ms: number }>;
}

function startFlood(url: string, o: FloodOptions, kind: FloodKind): Flood {
  const pool = new Pool(url, { connections: o.clients, pipelining: 1 });
  const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
  const one = { content: 'flood', recipient_phone_number: '+905551234567', send_at: tomorrow };
  const body =
    kind === 'single'
      ? JSON.stringify(one)
      : JSON.stringify({ messages: Array.from({ length: o.batchSize }, () => one) });
  const path = kind === 'single' ? '/messages' : '/messages/batch';
  const perRequest = kind === 'single' ? 1 : o.batchSize;
  let running = true;
  let counting = false;
  let t0 = performance.now();
  const seen = { requests: 0, errors: 0, latencies: [] as number[] };
  const loops = Array.from({ length: o.clients }, async () => {
    while (running) {
      const start = performance.now();
      try {
        const r = await pool.request({
          method: 'POST',
          path,
          headers: { 'content-type': 'application/json' },
          body,
        });
        await r.body.dump();
        if (!counting) continue;
        seen.requests++;
        if (r.statusCode !== 201) seen.errors++;
        seen.latencies.push(performance.now() - start);
      } catch {
        if (counting) seen.errors++;
      }
    }
  });
  return {
    mark() {
      counting = true;
      t0 = performance.now();
    },
    async stop() {
      const ms = performance.now() - t0;
      const out = { ...seen, latencies: [...seen.latencies], messages: seen.requests * perRequest, ms };
      running = false;
      await Promise.all(loops);
      await pool.close();
      return out;
    },
  };
}

async function floodRun(layout: Layout, kind: FloodKind, o: FloodOptions, tag: string): Promise<FloodRun> {
  const target = storeEnv(o.store, tag);
  const store: MessageStore = await openStore(target.env);
  const redis = process.env.REDIS_URI;
  const env = {
    ...target.env,
    WEBHOOK_URL: `${SINK}/hook`,
    API_AUTH: 'none',
    API_RATE_LIMITER_ENABLED: 'false',
    RATE_LIMITER_ENABLED: 'false',
    POOL_NUM_WORKERS: String(o.concurrency),
    POOL_INITIAL_JOB_FETCH: 'false',
    ...(redis ? { REDIS_URI: redis, CACHE_KEY_PREFIX: `bench:flood:${tag}:${process.pid}:` } : {}),
  };
  const roles = layout === 'split' ? ['api', 'worker'] : ['all'];
  let nodes: Node[] = [];
  try {
    nodes = await startNodes(
      BASE_PORT + 1,
      roles.map((role) => ({ ...env, NODE_ROLE: role })),
    );
    const front = nodes[0];
    if (!front) throw new Error('no node');
    // warm-up: the delivery path and the API's write path, untimed
    await fill(store, 2000);
    await setState(front, 'start');
    await waitUntil(async () => (await store.countByStatus()).sent >= 2000, 120_000, 'the warm-up', 20);
    const warm = startFlood(front.url, o, kind);
    await sleep(1000);
    await warm.stop();
    await setState(front, 'pause');
    await sleep(500);

    // a backlog far larger than both windows take
    await fill(
      store,
      Math.max(20_000, Math.round(((o.concurrency * 1000) / (o.latencyMs + 1)) * (o.seconds + 2) * 3)),
    );
    await analyzeFilled(o.store, target.env);
    await setState(front, 'start');
    const unloadedPerSec = await deliveryRate(o.seconds);
    await setState(front, 'pause');
    await sleep(500);

    const flood = startFlood(front.url, o, kind);
    await sleep(1000);
    await setState(front, 'start');
    flood.mark();
    const loadedPerSec = await deliveryRate(o.seconds);
    const f = await flood.stop();
    await setState(front, 'pause');
    return {
      layout,
      kind,
      unloadedPerSec,
      loadedPerSec,
      ratio: loadedPerSec / unloadedPerSec,
      floodRequestsPerSec: f.requests / (f.ms / 1000),
      floodMessagesPerSec: f.messages / (f.ms / 1000),
      floodErrors: f.errors,
      floodP50Ms: percentile(f.latencies, 50),
      floodP99Ms: percentile(f.latencies, 99),
    };
  } finally {
    await stopNodes(nodes);
    await store.close();
    await target.drop();
  }
}

function parseFloodOptions(args: string[]): FloodOptions {
  const { values } = parseArgs({
    args,
    options: {
      store: { type: 'string' },
      layouts: { type: 'string' },
      kinds: { type: 'string' },
      concurrency: { type: 'string' },
      latency: { type: 'string' },
      clients: { type: 'string' },
      'batch-size': { type: 'string' },
      seconds: { type: 'string' },
      repeat: { type: 'string' },
    },
  });
  const int = (v: string | undefined, d: number, name: string, min = 1): number =>
    wholeNumber('bench flood', name, v, d, min);
  const list = <T extends string>(
    v: string | undefined,
    d: string,
    allowed: readonly T[],
    name: string,
  ): T[] =>
    (v ?? d).split(',').map((s) => {
      const x = s.trim();
      if (!(allowed as readonly string[]).includes(x))
        throw new Error(`bench flood: --${name} has ${JSON.stringify(x)}: expected ${allowed.join(', ')}`);
      return x as T;
    });
  const store = values.store ?? 'postgres';
  if (store !== 'postgres' && store !== 'mongodb')
    throw new Error(`bench flood: --store ${JSON.stringify(store)} is invalid: expected postgres, mongodb`);
  return {
    store,
    layouts: list(values.layouts, 'split,all', ['split', 'all'] as const, 'layouts'),
    kinds: list(values.kinds, 'single,batch', ['single', 'batch'] as const, 'kinds'),
    concurrency: int(values.concurrency, 64, 'concurrency'),
    latencyMs: int(values.latency, 20, 'latency', 0),
    clients: int(values.clients, 32, 'clients'),
    batchSize: int(values['batch-size'], 100, 'batch-size'),
    seconds: int(values.seconds, 5, 'seconds'),
    repeat: int(values.repeat, 1, 'repeat'),
  };
}

export async function runFloodBench(args: string[]): Promise<void> {
  const o = parseFloodOptions(args);
  const sink: Proc = startCli(
    ['sink', '--port', String(SINK_PORT), '--latency', String(o.latencyMs), '--keep', '0'],
    {},
  );
  await waitUntil(async () => (await fetch(`${SINK}/stats`)).ok, 20_000, 'the sink');
  say(
    `message-scheduler bench flood ${VERSION}: ${o.store}, numWorkers=${o.concurrency}, receiver latency ${o.latencyMs} ms, ${o.clients} flood clients (batches of ${o.batchSize}), ${o.seconds} s windows, repeat=${o.repeat}, ${cpus().length} cores, Node ${process.version}`,
  );
  const runs: FloodRun[] = [];
  try {
    for (let r = 0; r < o.repeat; r++) {
      const layouts = r % 2 === 0 ? o.layouts : [...o.layouts].reverse();
      for (const kind of o.kinds) {
        for (const layout of layouts) {
          const run = await floodRun(layout, kind, o, `${layout}${kind}${r}`);
          runs.push(run);
          say(
            `  [${r + 1}/${o.repeat}] ${layout}, ${kind} flood: delivery ${fmt(run.unloadedPerSec)} → ${fmt(run.loadedPerSec)} msg/s (${fmt(run.ratio * 100)}%), flood ${fmt(run.floodRequestsPerSec)} requests/s (${fmt(run.floodMessagesPerSec)} messages/s, p50 ${fmt(run.floodP50Ms, 1)} ms, p99 ${fmt(run.floodP99Ms, 1)} ms, ${run.floodErrors} errors)`,
          );
        }
      }
    }
  } finally {
    await sink.stop();
  }
  const lines = [
    '',
    '| layout | flood | delivery unloaded, msg/s | under the flood | kept | flood requests/s | flood messages/s | flood p50 / p99 ms | errors |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of o.kinds) {
    for (const layout of o.layouts) {
      const rs = runs.filter((x) => x.layout === layout && x.kind === kind);
      const m = (f: (x: FloodRun) => number): number => median(rs.map(f));
      const name = layout === 'split' ? '`api` + `worker`' : '`all`';
      lines.push(
        `| ${name} | ${kind === 'single' ? 'POST /messages' : `POST /messages/batch (${o.batchSize})`} | ${fmt(m((x) => x.unloadedPerSec))} | ${fmt(m((x) => x.loadedPerSec))} | ${fmt(m((x) => x.ratio) * 100)}% | ${fmt(m((x) => x.floodRequestsPerSec))} | ${fmt(m((x) => x.floodMessagesPerSec))} | ${fmt(
          m((x) => x.floodP50Ms),
          1,
        )} / ${fmt(
          m((x) => x.floodP99Ms),
          1,
        )} | ${Math.max(...rs.map((x) => x.floodErrors))} |`,
      );
    }
  }
  say(lines.join('\n'));
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `flood-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ options: o, runs }, null, 2));
  say(`\nwrote ${file}`);
}
