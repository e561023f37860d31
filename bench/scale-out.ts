/**
 * `bench --nodes 1,2,3`: the same messages delivered by 1, 2, 3 service
 * processes on one server store (PostgreSQL or the MongoDB-compatible server)
 * and one Redis, against a receiver that adds a fixed latency per request, so
 * the receiver's latency and not one process's CPU bounds a node. Reports the
 * rate per node count and its ratio to one node, duplicates, the time from a
 * pause's answer to the last delivery started anywhere, and (with `--rate`)
 * how closely the cluster holds one shared delivery rate over a long window.
 */
import { fmt, say, wholeNumber } from './report.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { StoreKind } from '../src/config/config.js';
import type { MessageStore } from '../src/store/store.js';
import { VERSION } from '../src/app/app.js';
import {
  dbServerCpuMs,
  getJson,
  machineCpuTicks,
  median,
  startCli,
  waitUntil,
  type Proc,
} from './processes.js';
import { analyzeFilled, fill, openStore, storeEnv } from './targets.js';
import { setState, startNodes, stopNodes, type Node } from './nodes.js';

interface ScaleOptions {
  nodes: number[];
  stores: StoreKind[];
  n: number;
  mongoN: number;
  concurrency: number;
  latencyMs: number;
  repeat: number;
  /** shared delivery rate per second for the rate run; 0: no rate run */
  rate: number;
  rateSeconds: number;
}

interface ScaleRun {
  store: StoreKind;
  nodes: number;
  n: number;
  msgsPerSec: number;
  duplicates: number;
  /** CPU per delivered message: all nodes together, the receiver, the database server(s) */
  nodesCpuUs: number;
  sinkCpuUs: number;
  dbCpuUs: number;
  /** share of the machine's CPU (all cores) busy while the n messages were delivered */
  machineBusy: number;
  /** from the pause's HTTP answer to the last delivery started on any node, ms */
  pauseMs: number;
  /** deliveries started after the pause's answer (in flight or already claimed) */
  startedAfterPause: number;
}

interface RateRun {
  store: StoreKind;
  nodes: number;
  rate: number;
  maxTokens: number;
  seconds: number;
  delivered: number;
  /** the most the bucket allows in the window: a full bucket, then the refill */
  allowedTotal: number;
  /** steady-state rate: from the end of the first 5 s (the bucket's burst spent) to the end */
  steadyPerSec: number;
  errorPct: number;
  /** most deliveries in any 100 ms, and the most any 1 s window allowed (maxTokens + rate) */
  largest100ms: number;
  largest1s: number;
  allowed1s: number;
  duplicates: number;
}

const BASE_PORT = 31_000 + (process.pid % 400) * 8;
const SINK_PORT = BASE_PORT;
const SINK = `http://127.0.0.1:${SINK_PORT}`;

type Stats = { accepted: number; requests: number; duplicates: number };
let sinkProc: Proc | null = null;
const sinkCpuMs = (): number => sinkProc?.cpuMs() ?? NaN;
const sinkStats = (): Promise<Stats> => getJson<Stats>(`${SINK}/stats`);
const resetSink = (): Promise<unknown> => getJson(`${SINK}/reset`, { method: 'POST' });

function clusterEnv(
  target: Record<string, string>,
  o: ScaleOptions,
  tag: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const redis = process.env.REDIS_URI;
  if (!redis) throw new Error('bench --nodes: REDIS_URI is not set (eval "$(scripts/services.sh env)")');
  return {
    ...target,
    REDIS_URI: redis,
    CACHE_KEY_PREFIX: `bench:${tag}:${process.pid}:`,
    WEBHOOK_URL: `${SINK}/hook`,
    API_AUTH: 'none',
    API_RATE_LIMITER_ENABLED: 'false',
    RATE_LIMITER_ENABLED: 'false',
    POOL_NUM_WORKERS: String(o.concurrency),
    POOL_INITIAL_JOB_FETCH: 'false',
    ...extra,
  };
}

/** Delivers `n` messages untimed and pauses again: connections open, code compiled, every node seen. */
async function warmUp(store: MessageStore, nodes: Node[], n: number): Promise<void> {
  const before = (await store.countByStatus()).sent;
  await fill(store, n);
  const first = nodes[0];
  if (!first) throw new Error('no node');
  await setState(first, 'start');
  await waitUntil(async () => (await store.countByStatus()).sent >= before + n, 120_000, 'the warm-up', 20);
  await setState(first, 'pause');
  await new Promise((r) => setTimeout(r, 300));
  await resetSink();
}

async function scaleRun(kind: StoreKind, count: number, o: ScaleOptions, tag: string): Promise<ScaleRun> {
  const n = kind === 'mongodb' ? Math.min(o.n, o.mongoN) : o.n;
  const target = storeEnv(kind, tag);
  const store = await openStore(target.env);
  let nodes: Node[] = [];
  try {
    nodes = await startNodes(
      BASE_PORT + 1,
      Array.from({ length: count }, () => clusterEnv(target.env, o, tag)),
    );
    const first = nodes[0];
    const last = nodes[nodes.length - 1];
    if (!first || !last) throw new Error('no node');
    await warmUp(store, nodes, Math.min(n, 1000 * count));

    // throughput: n messages stored, then the cluster started on one node
    await fill(store, n);
    await analyzeFilled(kind, target.env);
    const nodesCpu = (): number => nodes.reduce((sum, x) => sum + x.proc.cpuMs(), 0);
    const cpu0 = [nodesCpu(), sinkCpuMs(), dbServerCpuMs()] as const;
    const machine0 = machineCpuTicks();
    const t0 = performance.now();
    await setState(first, 'start');
    await waitUntil(async () => (await sinkStats()).accepted >= n, 600_000, `${n} deliveries`, 25);
    const msgsPerSec = n / ((performance.now() - t0) / 1000);
    const machine1 = machineCpuTicks();
    const machineBusy = (machine1.busy - machine0.busy) / (machine1.total - machine0.total);
    const perMsg = (now: number, then: number): number => ((now - then) * 1000) / n;
    const nodesCpuUs = perMsg(nodesCpu(), cpu0[0]);
    const sinkCpuUs = perMsg(sinkCpuMs(), cpu0[1]);
    const dbCpuUs = perMsg(dbServerCpuMs(), cpu0[2]);
    const { duplicates } = await sinkStats();
    await setState(first, 'pause');
    await new Promise((r) => setTimeout(r, 500));

    // pause latency: about 3 s of work, paused on the last node 1 s in
    await resetSink();
    const more = Math.max(1000, Math.round(msgsPerSec * 3));
    await fill(store, more);
    await setState(first, 'start');
    await new Promise((r) => setTimeout(r, 1000));
    await setState(last, 'pause');
    const answeredAt = Date.now();
    await new Promise((r) => setTimeout(r, 2000 + o.latencyMs));
    const deliveries = await getJson<{ received_at: string }[]>(`${SINK}/deliveries`);
    const starts = deliveries.map((d) => Date.parse(d.received_at) - o.latencyMs);
    const lastStart = Math.max(...starts);
    const startedAfterPause = starts.filter((s) => s > answeredAt).length;
    const after = await sinkStats();
    return {
      store: kind,
      nodes: count,
      n,
      msgsPerSec,
      nodesCpuUs,
      sinkCpuUs,
      dbCpuUs,
      machineBusy,
      duplicates: duplicates + after.duplicates,
      pauseMs: Math.max(0, lastStart - answeredAt),
      startedAfterPause,
    };
  } finally {
    await stopNodes(nodes);
    await store.close();
    await target.drop();
  }
}

async function rateRun(kind: StoreKind, count: number, o: ScaleOptions): Promise<RateRun> {
  // the original's bucket adds refillRate per interval up to maxTokens: a bucket smaller than
  // the refill would cap the rate at maxTokens, so it holds one interval's worth
  const maxTokens = o.rate;
  const target = storeEnv(kind, 'rate');
  const store = await openStore(target.env);
  let nodes: Node[] = [];
  try {
    nodes = await startNodes(
      BASE_PORT + 1,
      Array.from({ length: count }, () =>
        clusterEnv(target.env, o, 'rate', {
          RATE_LIMITER_ENABLED: 'true',
          RATE_LIMITER_MAX_TOKENS: String(maxTokens),
          RATE_LIMITER_REFILL_RATE: String(o.rate),
          RATE_LIMITER_REFILL_INTERVAL: '1s',
        }),
      ),
    );
    const first = nodes[0];
    if (!first) throw new Error('no node');
    // more than the window can take, so the bucket and not the backlog is what stops it
    await fill(store, Math.round(o.rate * (o.rateSeconds + 10) + maxTokens));
    await analyzeFilled(kind, target.env);
    await new Promise((r) => setTimeout(r, 1500)); // every node has heard of the others
    await resetSink();
    const samples: { t: number; accepted: number }[] = [];
    await setState(first, 'start');
    const t0 = performance.now();
    const end = t0 + o.rateSeconds * 1000;
    for (;;) {
      const now = performance.now();
      samples.push({ t: now - t0, accepted: (await sinkStats()).accepted });
      if (now >= end) break;
      await new Promise((r) => setTimeout(r, Math.min(100, end - now)));
    }
    await setState(first, 'pause');
    const lastSample = samples[samples.length - 1] ?? { t: 0, accepted: 0 };
    const delivered = lastSample.accepted;
    const at5 = samples.find((s) => s.t >= 5000) ?? lastSample;
    const steadyPerSec = (lastSample.accepted - at5.accepted) / ((lastSample.t - at5.t) / 1000);
    let largest100ms = 0;
    let largest1s = 0;
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1];
      const b = samples[i];
      if (a && b) largest100ms = Math.max(largest100ms, b.accepted - a.accepted);
      const from = samples.findLast((s) => b && s.t <= b.t - 1000);
      if (from && b) largest1s = Math.max(largest1s, b.accepted - from.accepted);
    }
    const { duplicates } = await sinkStats();
    return {
      store: kind,
      nodes: count,
      rate: o.rate,
      maxTokens,
      seconds: o.rateSeconds,
      delivered,
      allowedTotal: maxTokens + o.rate * o.rateSeconds,
      steadyPerSec,
      errorPct: ((steadyPerSec - o.rate) / o.rate) * 100,
      largest100ms,
      largest1s,
      allowed1s: maxTokens + o.rate,
      duplicates,
    };
  } finally {
    await stopNodes(nodes);
    await store.close();
    await target.drop();
  }
}

function parseScaleOptions(args: string[]): ScaleOptions {
  const { values } = parseArgs({
    args,
    options: {
      nodes: { type: 'string' },
      stores: { type: 'string' },
      n: { type: 'string' },
      'mongo-n': { type: 'string' },
      concurrency: { type: 'string' },
      latency: { type: 'string' },
      repeat: { type: 'string' },
      rate: { type: 'string' },
      'rate-seconds': { type: 'string' },
    },
  });
  const int = (v: string | undefined, d: number, name: string, min = 1): number =>
    wholeNumber('bench', name, v, d, min);
  const nodes = (values.nodes ?? '1,2,3').split(',').map((s) => int(s.trim(), 1, 'nodes'));
  const stores = (values.stores ?? 'postgres,mongodb').split(',').map((s) => s.trim());
  for (const s of stores) {
    if (s !== 'postgres' && s !== 'mongodb')
      throw new Error(
        `bench: --stores has ${JSON.stringify(s)}: expected postgres, mongodb (several nodes need a server store)`,
      );
  }
  return {
    nodes,
    stores: stores as StoreKind[],
    n: int(values.n, 20_000, 'n'),
    mongoN: int(values['mongo-n'], 5000, 'mongo-n'),
    concurrency: int(values.concurrency, 64, 'concurrency'),
    latencyMs: int(values.latency, 20, 'latency', 0),
    repeat: int(values.repeat, 1, 'repeat'),
    rate: int(values.rate, 0, 'rate', 0),
    rateSeconds: int(values['rate-seconds'], 60, 'rate-seconds'),
  };
}

export async function runScaleOutBench(args: string[]): Promise<void> {
  const o = parseScaleOptions(args);
  // the pause needs only the last deliveries; a longer list costs the receiver CPU that the nodes share
  const keep = 5000;
  const sink = startCli(
    ['sink', '--port', String(SINK_PORT), '--latency', String(o.latencyMs), '--keep', String(keep)],
    {},
  );
  sinkProc = sink;
  await waitUntil(async () => (await fetch(`${SINK}/stats`)).ok, 20_000, 'the sink');
  say(
    `message-scheduler bench --nodes ${o.nodes.join(',')} ${VERSION}: n=${o.n} (MongoDB-compatible: ${o.mongoN}), numWorkers=${o.concurrency} per node, receiver latency ${o.latencyMs} ms, repeat=${o.repeat}, ${cpus().length} cores, Node ${process.version}`,
  );
  const runs: ScaleRun[] = [];
  const rates: RateRun[] = [];
  try {
    for (let r = 0; r < o.repeat; r++) {
      for (const kind of o.stores) {
        // alternate the order each repeat (1 2 3 3 2 1 ...): drift in the machine lands on both ends
        const order = r % 2 === 0 ? o.nodes : [...o.nodes].reverse();
        for (const count of order) {
          const run = await scaleRun(kind, count, o, `s${count}r${r}`);
          runs.push(run);
          say(
            `  [${r + 1}/${o.repeat}] ${kind}, ${count} node(s): ${fmt(run.msgsPerSec)} msg/s, CPU per message: nodes ${fmt(run.nodesCpuUs)} µs, receiver ${fmt(run.sinkCpuUs)} µs, database server ${fmt(run.dbCpuUs)} µs, machine ${fmt(run.machineBusy * 100)}% busy, duplicates ${run.duplicates}, pause: last delivery started ${fmt(run.pauseMs)} ms after the answer (${run.startedAfterPause} started after it)`,
          );
        }
      }
    }
    if (o.rate > 0) {
      const count = Math.max(...o.nodes);
      for (const kind of o.stores) {
        const rr = await rateRun(kind, count, o);
        rates.push(rr);
        say(
          `  shared rate on ${kind}, ${count} nodes, ${rr.rate}/s (maxTokens ${rr.maxTokens}) over ${rr.seconds} s: ${fmt(rr.steadyPerSec, 1)}/s after the first 5 s (${fmt(rr.errorPct, 2)}%), ${rr.delivered} delivered of ${rr.allowedTotal} allowed, largest 100 ms ${rr.largest100ms}, largest 1 s ${rr.largest1s} (allowed ${rr.allowed1s}), duplicates ${rr.duplicates}`,
        );
      }
    }
  } finally {
    await sink.stop();
  }

  const lines = [
    '',
    `| store + Redis | nodes | n | msg/s, median${o.repeat > 1 ? ' (min–max)' : ''} | × 1 node | duplicates | pause → last start anywhere, ms (median, max) | CPU µs/msg: nodes / receiver / db server | machine busy |`,
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const kind of o.stores) {
    const one = median(runs.filter((x) => x.store === kind && x.nodes === 1).map((x) => x.msgsPerSec));
    for (const count of o.nodes) {
      const rs = runs.filter((x) => x.store === kind && x.nodes === count);
      const rates = rs.map((x) => x.msgsPerSec);
      const range = rates.length > 1 ? ` (${fmt(Math.min(...rates))}–${fmt(Math.max(...rates))})` : '';
      lines.push(
        `| ${kind} | ${count} | ${rs[0]?.n ?? ''} | ${fmt(median(rates))}${range} | ${fmt(median(rates) / one, 2)} | ${Math.max(...rs.map((x) => x.duplicates))} | ${fmt(median(rs.map((x) => x.pauseMs)))}, ${fmt(Math.max(...rs.map((x) => x.pauseMs)))} | ${fmt(median(rs.map((x) => x.nodesCpuUs)))} / ${fmt(median(rs.map((x) => x.sinkCpuUs)))} / ${fmt(median(rs.map((x) => x.dbCpuUs)))} | ${fmt(median(rs.map((x) => x.machineBusy)) * 100)}% |`,
      );
    }
  }
  say(lines.join('\n'));
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `scale-out-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify({ options: o, runs, rates }, null, 2));
  say(`\nwrote ${file}`);
}
