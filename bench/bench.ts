import { fmt, say, wholeNumber } from './report.js';
import { analyzeFilled, fill, openStore, storeEnv } from './targets.js';
import { operatorQueries, type OperatorQueryTimes } from './operator-queries.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import type { StoreKind } from '../src/config/config.js';
import type { MessageStore } from '../src/store/store.js';
import { dbServerCpuMs, getJson, median, percentile, startCli, waitUntil, type Proc } from './processes.js';
import { VERSION } from '../src/app/app.js';
import { post } from '../src/delivery/webhook-client.js';
import { floorDeliver } from './floor.js';
import { referenceDeliver, referenceIndex } from './reference-pg.js';
import { postgresSettings } from './targets.js';
import { perMessage, pgCounters, type PgCounters } from './pg-costs.js';

interface Options {
  n: number;
  mongoN: number;
  concurrency: number;
  repeat: number;
  stores: StoreKind[];
  redis: boolean;
  accuracy: boolean;
  growth: boolean;
  growthRows: number;
  mongoGrowthRows: number;
  apiInsert: boolean;
  floor: boolean;
  /** issue 27's hand-written SQL on PostgreSQL beside the service (reference-pg.ts) */
  reference: boolean;
  /** PostgreSQL's own counters around each PostgreSQL run, per message (pg-costs.ts) */
  pgCosts: boolean;
  /** the service traces every delivery (OTLP to the sink, which discards it) */
  tracing: boolean;
}

interface DeliveryResult {
  system: string;
  /** --pg-costs: what PostgreSQL did per delivered message (pg-costs.ts) */
  pgCost?: Record<keyof PgCounters, number | null>;
  n: number;
  insertPerSec: number;
  msgsPerSec: number;
  /** the rate at the sink over the last three quarters of the run (steadyRate) */
  steadyPerSec: number;
  ratio: number;
  peakRssMb: number;
  duplicates: number;
  /** CPU per delivered message: the service process (all threads) and the sink */
  serviceCpuUs: number;
  /** of which the service's main thread (NaN for the floor, which runs in the bench) */
  serviceMainCpuUs: number;
  sinkCpuUs: number;
  /** PostgreSQL/FerretDB server processes (0 for SQLite, which runs inside the service) */
  dbCpuUs: number;
  /**
   * What the machine's cores could do at this CPU cost per message if they were
   * shared perfectly: cores / (service + sink + database server), as a ratio to the limit.
   */
  cpuCeilingRatio: number;
}

interface LimitResult {
  msgsPerSec: number;
  steadyPerSec: number;
  clientCpuUs: number;
  sinkCpuUs: number;
}

let sinkProc: Proc | null = null;
const sinkCpuMs = (): number => sinkProc?.cpuMs() ?? NaN;
const selfCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

// below the ephemeral range (32768+ on Linux), where client sockets can already hold a port
const BASE_PORT = 30_000 + (process.pid % 500) * 4;
const sinkPort = BASE_PORT;
const apiPort = BASE_PORT + 1;
const SINK = `http://127.0.0.1:${sinkPort}`;
const BODY = JSON.stringify({ to: '+905551234567', content: 'benchmark message' });

/** The HTTP limit: the same POSTs straight to the sink with the same concurrency, no storage. */
async function httpLimit(n: number, concurrency: number): Promise<LimitResult> {
  const pool = new Pool(SINK, { connections: concurrency, pipelining: 1 });
  await blast(pool, Math.min(n, WARM_UP), concurrency); // warm-up: connections and JIT, not timed
  await getJson(`${SINK}/reset`, { method: 'POST' });
  const [self0, sink0, t0] = [selfCpuMs(), sinkCpuMs(), performance.now()];
  await blast(pool, n, concurrency);
  const msgsPerSec = n / ((performance.now() - t0) / 1000);
  const clientCpuUs = ((selfCpuMs() - self0) * 1000) / n;
  const sinkCpuUs = ((sinkCpuMs() - sink0) * 1000) / n;
  const steadyPerSec = await steadyRate(n);
  await pool.close();
  await getJson(`${SINK}/reset`, { method: 'POST' });
  return { msgsPerSec, steadyPerSec, clientCpuUs, sinkCpuUs };
}

/**
 * The rate at which the sink accepted the last three quarters of the `n` requests since its last
 * reset, from the times it noted (GET /progress). The whole-run rate also holds each system's start
 * and end, which differ: the service resumes a paused pool, the hand-written SQL opens its
 * connections (and, on a table without statistics, ran its first quarter a third slower than the
 * rest: analyzeFilled). This one compares the systems running.
 */
async function steadyRate(n: number): Promise<number> {
  const { step, at_ms } = await getJson<{ step: number; at_ms: number[] }>(`${SINK}/progress`);
  const first = Math.ceil(n / 4 / step);
  const last = Math.min(Math.floor(n / step), at_ms.length);
  const [t0, t1] = [at_ms[first - 1], at_ms[last - 1]];
  if (t0 === undefined || t1 === undefined || last <= first) return NaN;
  return ((last - first) * step) / ((t1 - t0) / 1000);
}

/** Both sides of the comparison get the same warm-up: connections open, code compiled. */
const WARM_UP = 2000;

/** The headers the limit client and the floor send: the service's, less the signature. */
function hookHeaders(webhookId: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': `message-scheduler/${VERSION}`,
    'webhook-id': webhookId,
    'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
  };
}

async function blast(pool: Pool, n: number, concurrency: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < n) {
        const i = next++;
        // the service's own HTTP path (undici dispatch), so the limit is not lowered by a costlier client
        await post(pool, '/hook', hookHeaders(`limit_${i}`), BODY);
      }
    }),
  );
}

/** Set by --tracing: every service run exports its spans (all sampled) to the sink, which discards them. */
let tracingEnv: Record<string, string> = {};

async function startService(env: Record<string, string>, concurrency: number): Promise<Proc> {
  const proc = startCli(['serve'], {
    ...tracingEnv,
    ...env,
    PORT: String(apiPort),
    HOST: '127.0.0.1',
    WEBHOOK_URL: `${SINK}/hook`,
    RATE_LIMITER_ENABLED: 'false',
    API_RATE_LIMITER_ENABLED: 'false',
    POOL_NUM_WORKERS: String(concurrency),
    POOL_INITIAL_JOB_FETCH: 'false',
    WORKER_JOB_INTERVAL: '200ms',
  });
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${apiPort}/readyz`)).ok,
    30_000,
    `the service to start: ${proc.output()}`,
  );
  return proc;
}

async function setPool(action: 'start' | 'pause'): Promise<void> {
  await getJson(`http://127.0.0.1:${apiPort}/worker-pool/state`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
}

async function sinkStats(): Promise<{ accepted: number; duplicates: number }> {
  return getJson(`${SINK}/stats`);
}

type Costs = Pick<
  DeliveryResult,
  'msgsPerSec' | 'ratio' | 'serviceCpuUs' | 'sinkCpuUs' | 'dbCpuUs' | 'cpuCeilingRatio'
>;

/**
 * Starts the clock and the CPU counters of the sender (the service or the floor),
 * the sink and the database server; the function it returns gives the rate and
 * the cost per message of the `n` messages delivered since.
 */
function startCosts(senderCpuMs: () => number): (n: number, kind: StoreKind, limit: number) => Costs {
  const [sender0, sink0, db0, t0] = [senderCpuMs(), sinkCpuMs(), dbServerCpuMs(), performance.now()];
  return (n, kind, limit) => {
    const msgsPerSec = n / ((performance.now() - t0) / 1000);
    const serviceCpuUs = ((senderCpuMs() - sender0) * 1000) / n;
    const sinkCpuUs = ((sinkCpuMs() - sink0) * 1000) / n;
    const dbCpuUs = kind === 'sqlite' ? 0 : ((dbServerCpuMs() - db0) * 1000) / n;
    const cpuCeilingRatio = (cpus().length * 1e6) / (serviceCpuUs + sinkCpuUs + dbCpuUs) / limit;
    return { msgsPerSec, ratio: msgsPerSec / limit, serviceCpuUs, sinkCpuUs, dbCpuUs, cpuCeilingRatio };
  };
}

async function deliveryRun(
  kind: StoreKind,
  redis: boolean,
  n: number,
  o: Options,
  limit: number,
  tag: string,
): Promise<DeliveryResult> {
  const system = kind + (redis ? '+redis' : '');
  const target = storeEnv(kind, tag);
  const env = {
    ...target.env,
    ...(redis && process.env.REDIS_URI
      ? { REDIS_URI: process.env.REDIS_URI, CACHE_KEY_PREFIX: `bench:${tag}:` }
      : {}),
  };
  const store = await openStore(env);
  let proc: Proc | null = null;
  try {
    proc = await startService(env, o.concurrency);
    // warm the service up as the HTTP-limit client is: deliver WARM_UP messages untimed
    const warmUp = Math.min(n, WARM_UP);
    await fill(store, warmUp);
    await setPool('start');
    await waitUntil(
      async () => (await store.countByStatus()).sent === warmUp,
      120_000,
      `warm-up on ${system}`,
      10,
    );
    await setPool('pause');
    await getJson(`${SINK}/reset`, { method: 'POST' });
    const insertPerSec = await fill(store, n);
    await analyzeFilled(kind, target.env);
    const service = proc;
    const pg0 = o.pgCosts && kind === 'postgres' ? await pgCounters(target.env.DATABASE_URL ?? '') : null;
    const costs = startCosts(() => service.cpuMs());
    const main0 = service.mainThreadCpuMs();
    await setPool('start');
    await waitUntil(
      async () => (await sinkStats()).accepted >= n,
      600_000,
      `${n} deliveries on ${system}`,
      10,
    );
    await waitUntil(
      async () => (await store.countByStatus()).sent === n + warmUp,
      120_000,
      `${n} recorded as sent on ${system}`,
      10,
    );
    const measured = costs(n, kind, limit);
    const serviceMainCpuUs = ((service.mainThreadCpuMs() - main0) * 1000) / n;
    const steadyPerSec = await steadyRate(n);
    const peakRssMb = proc.peakRssMb();
    const { duplicates } = await sinkStats();
    const pgCost = pg0 ? perMessage(pg0, await pgCounters(target.env.DATABASE_URL ?? ''), n) : undefined;
    return {
      system,
      n,
      insertPerSec,
      peakRssMb,
      duplicates,
      serviceMainCpuUs,
      steadyPerSec,
      ...measured,
      ...(pgCost ? { pgCost } : {}),
    };
  } finally {
    await proc?.stop();
    await store.close();
    await target.drop();
  }
}

/** What delivers in the bench process: `count` messages from the store, calling `done` once the last is recorded. */
type InProcessDeliver = (
  store: MessageStore,
  env: Record<string, string>,
  count: number,
  done: () => void,
) => Promise<number>;

/**
 * A deliverer in the bench process (the floor, the hand-written reference): the same warm-up as the
 * service, then `n` messages timed, checked against the sink and the store. Costs are read when the
 * deliverer says it is done, before it closes its connections (their server processes' CPU is read then).
 */
async function inProcessRun(
  system: string,
  kind: StoreKind,
  n: number,
  o: Options,
  limit: number,
  tag: string,
  deliver: InProcessDeliver,
  prepare?: (env: Record<string, string>) => Promise<void>,
): Promise<DeliveryResult> {
  const target = storeEnv(kind, tag);
  const store = await openStore(target.env);
  const url = target.env.DATABASE_URL ?? '';
  try {
    await prepare?.(target.env);
    const warmUp = Math.min(n, WARM_UP);
    await fill(store, warmUp);
    await deliver(store, target.env, warmUp, () => undefined);
    await getJson(`${SINK}/reset`, { method: 'POST' });
    const insertPerSec = await fill(store, n);
    await analyzeFilled(kind, target.env);
    const pg0 = o.pgCosts && kind === 'postgres' ? await pgCounters(url) : null;
    const costs = startCosts(selfCpuMs);
    const box: { measured?: Costs } = {};
    const delivered = await deliver(store, target.env, n, () => {
      box.measured = costs(n, kind, limit);
    });
    const measured = box.measured;
    if (!measured) throw new Error(`bench: ${system} did not finish`);
    const pgCost = pg0 ? perMessage(pg0, await pgCounters(url), n) : undefined;
    const steadyPerSec = await steadyRate(n);
    const { accepted, duplicates } = await sinkStats();
    const sent = (await store.countByStatus()).sent;
    if (delivered !== n || accepted !== n || sent !== n + warmUp)
      throw new Error(
        `bench: ${system} delivered ${delivered}, sink accepted ${accepted}, stored ${sent} sent`,
      );
    return {
      system,
      n,
      insertPerSec,
      peakRssMb: NaN,
      duplicates,
      serviceMainCpuUs: NaN,
      steadyPerSec,
      ...measured,
      ...(pgCost ? { pgCost } : {}),
    };
  } finally {
    await getJson(`${SINK}/reset`, { method: 'POST' });
    await store.close();
    await target.drop();
  }
}

const REFERENCE = 'reference: hand-written SQL (postgres)';

/**
 * Issue 27's yardstick on PostgreSQL (reference-pg.ts): hand-written SQL in the bench process, on the
 * same server, receiver and concurrency. First the index its claim needs: hand-written SQL would have
 * it (the service's due index is ordered by priority and due time, not by id).
 */
function referenceRun(n: number, o: Options, limit: number, tag: string): Promise<DeliveryResult> {
  const schemaOf = (env: Record<string, string>) =>
    [env.DATABASE_URL ?? '', env.DATABASE_SCHEMA ?? ''] as const;
  return inProcessRun(
    REFERENCE,
    'postgres',
    n,
    o,
    limit,
    `x${tag}`,
    (_store, env, count, done) =>
      referenceDeliver(...schemaOf(env), SINK, count, o.concurrency, hookHeaders, done),
    (env) => referenceIndex(...schemaOf(env)),
  );
}

/**
 * The floor for one store (floor.ts): the bench process itself claims, POSTs and
 * records with the store's calls and nothing else.
 */
function floorRun(
  kind: StoreKind,
  n: number,
  o: Options,
  limit: number,
  tag: string,
): Promise<DeliveryResult> {
  return inProcessRun(`floor: ${kind}`, kind, n, o, limit, `f${tag}`, async (store, _env, count, done) => {
    const delivered = await floorDeliver(store, SINK, count, o.concurrency, hookHeaders);
    done();
    return delivered;
  });
}

/**
 * Messages due evenly over 10 s at about 1,000/s on `kind`: how late each reaches the sink, a
 * process of its own that stamps each request when it arrives.
 */
async function accuracyRun(kind: StoreKind, o: Options): Promise<Record<string, number>> {
  const n = 10_000;
  const spanMs = 10_000;
  const target = storeEnv(kind, 'acc');
  const store = await openStore(target.env);
  let proc: Proc | null = null;
  try {
    proc = await startService(target.env, o.concurrency);
    await setPool('start');
    // warmed up as every delivery run is (connections open, code compiled), then timed
    const warmUp = WARM_UP;
    await getJson(`${SINK}/reset`, { method: 'POST' });
    await fill(store, warmUp);
    await waitUntil(async () => (await sinkStats()).accepted >= warmUp, 120_000, `warm-up on ${kind}`, 10);
    await getJson(`${SINK}/reset`, { method: 'POST' });
    const start = Date.now() + 3000;
    const sendAt = new Map<string, number>();
    for (let i = 0; i < n; i += 1000) {
      const res = await store.create(
        Array.from({ length: 1000 }, (_, j) => ({
          content: `accuracy ${i + j}`,
          recipient_phone_number: '+1',
          send_at: new Date(start + Math.floor(((i + j) * spanMs) / n)),
        })),
        new Date(),
      );
      for (const r of res) sendAt.set(r.message.webhook_id, r.message.send_at.getTime());
    }
    if (Date.now() > start) throw new Error('bench: accuracy messages were not stored before they were due');
    await waitUntil(async () => (await sinkStats()).accepted >= n, 60_000, 'accuracy deliveries', 50);
    const deliveries = await getJson<{ webhook_id: string; received_at: string }[]>(`${SINK}/deliveries`);
    const lateness = deliveries.flatMap((d) => {
      const due = sendAt.get(d.webhook_id);
      return due === undefined ? [] : [Date.parse(d.received_at) - due];
    });
    if (process.env.MS_BENCH_LATENESS_FILE)
      writeFileSync(
        `${process.env.MS_BENCH_LATENESS_FILE}.${kind}.json`,
        JSON.stringify(deliveries.map((d) => [sendAt.get(d.webhook_id), Date.parse(d.received_at)])),
      );
    return {
      n: lateness.length,
      p50_ms: percentile(lateness, 50),
      p99_ms: percentile(lateness, 99),
      max_ms: Math.max(...lateness),
      early: lateness.filter((x) => x < 0).length,
    };
  } finally {
    await proc?.stop();
    await store.close();
    await target.drop();
  }
}

/**
 * Time per claimed+completed message with `rows` messages already stored: 80%
 * sent, 10% failed, 10% scheduled for tomorrow (unsent, not due), so a claim
 * that walked scheduled messages would show here. 1,000 untimed first: the
 * fill leaves work behind (SQLite's WAL checkpoint, PostgreSQL's hint bits).
 */
async function growthRun(
  kind: StoreKind,
  rows: number,
): Promise<{ rows: number; usPerMessage: number; plan: string; operatorQueries: OperatorQueryTimes }> {
  const target = storeEnv(kind, `g${rows}`);
  const store = await openStore(target.env);
  try {
    const old = new Date(Date.now() - 86_400_000);
    const tomorrow = new Date(Date.now() + 86_400_000);
    await fill(store, rows, (i) =>
      i % 10 === 1
        ? { content: `later ${i}`, recipient_phone_number: '+1', send_at: tomorrow }
        : {
            content: `old ${i}`,
            recipient_phone_number: '+1',
            status: i % 10 === 0 ? 'failed' : 'sent',
            created_at: old,
            sent_at: old,
            send_at: old,
          },
    );
    await fill(store, 2000);
    const claimAndComplete = async (n: number): Promise<number> => {
      let done = 0;
      while (done < n) {
        const claimed = await store.claim({ owner: 'bench', limit: 64, now: new Date(), leaseMs: 60_000 });
        if (claimed.length === 0) break;
        await store.complete(
          claimed.map((m) => ({
            id: m.id,
            owner: 'bench',
            outcome: { kind: 'sent', webhookResponseMessageId: 'x', sentAt: new Date() },
            attempt: null,
          })),
          new Date(),
        );
        done += claimed.length;
      }
      return done;
    };
    await claimAndComplete(1000);
    const t0 = performance.now();
    const done = await claimAndComplete(1000);
    const usPerMessage = ((performance.now() - t0) * 1000) / done;
    const plan =
      'explainClaim' in store ? await (store as { explainClaim(): Promise<string> }).explainClaim() : '';
    // a few in flight, as a running service has, then what an operator asks
    const held = await store.claim({ owner: 'bench', limit: 20, now: new Date(), leaseMs: 60_000 });
    const sample = (await store.list({ order: 'sent', limit: 1 })).items[0]?.id ?? held[0]?.id ?? '';
    const ops = await operatorQueries(store, sample);
    return { rows, usPerMessage, plan, operatorQueries: ops };
  } finally {
    await store.close();
    await target.drop();
  }
}

/** POST /messages/batch on SQLite: 1000 per request, 4 clients. */
async function apiInsertRun(): Promise<number> {
  const target = storeEnv('sqlite', 'api');
  let proc: Proc | null = null;
  try {
    proc = await startService(target.env, 2);
    const body = JSON.stringify({
      messages: Array.from({ length: 1000 }, (_, i) => ({
        content: `api ${i}`,
        recipient_phone_number: '+1',
      })),
    });
    const pool = new Pool(`http://127.0.0.1:${apiPort}`, { connections: 4 });
    const batches = 40;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < batches) {
          next++;
          const r = await pool.request({
            method: 'POST',
            path: '/messages/batch',
            headers: { 'content-type': 'application/json' },
            body,
          });
          await r.body.text();
          if (r.statusCode !== 201) throw new Error(`batch insert: HTTP ${r.statusCode}`);
        }
      }),
    );
    const rate = (batches * 1000) / ((performance.now() - t0) / 1000);
    await pool.close();
    return rate;
  } finally {
    await proc?.stop();
    await target.drop();
  }
}

function parseOptions(args: string[]): Options {
  const { values } = parseArgs({
    args,
    options: {
      n: { type: 'string' },
      'mongo-n': { type: 'string' },
      concurrency: { type: 'string' },
      repeat: { type: 'string' },
      stores: { type: 'string' },
      'no-redis': { type: 'boolean' },
      'no-accuracy': { type: 'boolean' },
      'no-growth': { type: 'boolean' },
      'growth-rows': { type: 'string' },
      'mongo-growth-rows': { type: 'string' },
      'no-api': { type: 'boolean' },
      'no-floor': { type: 'boolean' },
      'no-reference': { type: 'boolean' },
      'pg-costs': { type: 'boolean' },
      tracing: { type: 'boolean' },
    },
  });
  const int = (v: string | undefined, d: number, name: string, min = 1): number =>
    wholeNumber('bench', name, v, d, min);
  const stores = (values.stores ?? 'sqlite,postgres,mongodb').split(',').map((s) => s.trim());
  for (const s of stores) {
    if (!['sqlite', 'postgres', 'mongodb'].includes(s))
      throw new Error(`bench: --stores has ${JSON.stringify(s)}: expected sqlite, postgres, mongodb`);
  }
  return {
    n: int(values.n, 20_000, 'n'),
    mongoN: int(values['mongo-n'], 2000, 'mongo-n'),
    concurrency: int(values.concurrency, 64, 'concurrency'),
    repeat: int(values.repeat, 1, 'repeat'),
    stores: stores as StoreKind[],
    redis: !values['no-redis'] && Boolean(process.env.REDIS_URI),
    accuracy: !values['no-accuracy'],
    growth: !values['no-growth'],
    growthRows: int(values['growth-rows'], 1_000_000, 'growth-rows'),
    mongoGrowthRows: int(values['mongo-growth-rows'], 100_000, 'mongo-growth-rows'),
    apiInsert: !values['no-api'],
    floor: !values['no-floor'],
    reference: !values['no-reference'],
    pgCosts: values['pg-costs'] ?? false,
    tracing: values.tracing ?? false,
  };
}

export async function runBench(args: string[]): Promise<void> {
  const o = parseOptions(args);
  if (o.tracing)
    tracingEnv = {
      OTEL_EXPORTER_OTLP_ENDPOINT: SINK,
      OTEL_TRACES_SAMPLER: process.env.MS_BENCH_SAMPLER ?? 'always_on',
      OTEL_SERVICE_NAME: 'bench',
    };
  const sink = startCli(['sink', '--port', String(sinkPort), '--keep', '20000'], {});
  sinkProc = sink;
  await waitUntil(async () => (await fetch(`${SINK}/stats`)).ok, 20_000, 'the sink');
  const machine = {
    cpus: cpus().length,
    cpu: cpus()[0]?.model ?? '',
    memGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    version: VERSION,
  };
  say(
    `message-scheduler bench ${VERSION}: n=${o.n} (MongoDB-compatible: ${o.mongoN}), concurrency=${o.concurrency}, repeat=${o.repeat}, ${machine.cpus} cores, Node ${machine.node}${o.tracing ? ', tracing on (every delivery a span, exported over OTLP to the sink, which discards it)' : ''}`,
  );
  const results: { limit: LimitResult[]; runs: DeliveryResult[] } = { limit: [], runs: [] };
  const extra: Record<string, unknown> = {};
  try {
    if (o.stores.includes('postgres')) say(`  PostgreSQL: ${await postgresSettings()}`);
    // [store, with Redis, what delivers: the service, the floor, or the hand-written reference]
    const systems: [StoreKind, boolean, 'service' | 'floor' | 'reference'][] = [];
    for (const s of o.stores) {
      systems.push([s, false, 'service']);
      if (o.redis) systems.push([s, true, 'service']);
      if (o.floor) systems.push([s, false, 'floor']);
      if (o.reference && s === 'postgres') systems.push([s, false, 'reference']);
    }
    for (let r = 0; r < o.repeat; r++) {
      // alternate: the HTTP limit, then every system, each repeat (A B A B ...)
      const lim = await httpLimit(o.n, o.concurrency);
      results.limit.push(lim);
      const limit = lim.msgsPerSec;
      say(
        `  [${r + 1}/${o.repeat}] HTTP limit: ${fmt(limit)} msg/s (steady ${fmt(lim.steadyPerSec)}), CPU per message: client ${fmt(lim.clientCpuUs)} µs, sink ${fmt(lim.sinkCpuUs)} µs`,
      );
      const order = r % 2 === 0 ? systems : [...systems].reverse();
      for (const [kind, redis, what] of order) {
        const n = kind === 'mongodb' ? Math.min(o.n, o.mongoN) : o.n;
        const res =
          what === 'floor'
            ? await floorRun(kind, n, o, limit, `r${r}`)
            : what === 'reference'
              ? await referenceRun(n, o, limit, `r${r}`)
              : await deliveryRun(kind, redis, n, o, limit, `r${r}`);
        results.runs.push(res);
        say(
          `  [${r + 1}/${o.repeat}] ${res.system}: ${fmt(res.msgsPerSec)} msg/s (${fmt(res.ratio, 2)} × limit; steady ${fmt(res.steadyPerSec)}), insert ${fmt(res.insertPerSec)}/s, peak RSS ${fmt(res.peakRssMb)} MB, duplicates ${res.duplicates}, CPU per message: service ${fmt(res.serviceCpuUs)} µs${Number.isNaN(res.serviceMainCpuUs) ? '' : ` (main thread ${fmt(res.serviceMainCpuUs)} µs)`}, sink ${fmt(res.sinkCpuUs)} µs, database server ${fmt(res.dbCpuUs)} µs (CPU ceiling ${fmt(res.cpuCeilingRatio, 2)} × limit)`,
        );
      }
    }
    if (o.apiInsert) {
      extra.apiBatchInsertPerSec = await apiInsertRun();
      say(`  API POST /messages/batch on SQLite: ${fmt(extra.apiBatchInsertPerSec as number)} messages/s`);
    }
    if (o.accuracy) {
      const accuracy: Record<string, Record<string, number>> = {};
      for (const kind of o.stores.filter((s) => s !== 'mongodb')) {
        accuracy[kind] = await accuracyRun(kind, o);
        say(`  scheduling accuracy (${kind}, 10,000 due over 10 s): ${JSON.stringify(accuracy[kind])}`);
      }
      extra.accuracy = accuracy;
    }
    if (o.growth) {
      const growth: Record<string, unknown>[] = [];
      for (const kind of o.stores) {
        // FerretDB stores about 8,000 documents a second: its large run is smaller
        const large = kind === 'mongodb' ? o.mongoGrowthRows : o.growthRows;
        for (const rows of [10_000, large]) {
          const g = await growthRun(kind, rows);
          growth.push({ store: kind, ...g });
          say(`  claim cost on ${kind} with ${fmt(rows)} rows stored: ${fmt(g.usPerMessage, 1)} µs/message`);
          const worst = Object.entries(g.operatorQueries).sort((a, b) => b[1][1] - a[1][1]);
          say(
            `  operator queries on ${kind} with ${fmt(rows)} rows (p50 / p99 / max ms): ` +
              worst
                .map(([q, [p50, p99, max]]) => `${q} ${fmt(p50, 1)} / ${fmt(p99, 1)} / ${fmt(max, 1)}`)
                .join('; '),
          );
        }
      }
      extra.growth = growth;
    }
  } finally {
    await sink.stop();
  }

  const limitRates = results.limit.map((l) => l.msgsPerSec);
  const limitMed = median(limitRates);
  const bySystem = new Map<string, DeliveryResult[]>();
  for (const r of results.runs) bySystem.set(r.system, [...(bySystem.get(r.system) ?? []), r]);
  const range = (xs: number[], d = 0) =>
    xs.length > 1 ? ` (${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)})` : '';
  const lines = [
    '',
    `| system | n | msg/s, median${o.repeat > 1 ? ' (min–max)' : ''} | steady msg/s (last ¾) | × HTTP limit | × hand-written SQL | steady × hand-written SQL | bulk insert/s | peak RSS MB | duplicates | CPU µs/msg: sender / sink / db server | CPU ceiling × limit |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    `| HTTP limit (undici → sink) | ${o.n} | ${fmt(limitMed)}${range(limitRates)} | ${fmt(median(results.limit.map((l) => l.steadyPerSec)))} | 1.00 | | | | | | | ${fmt(median(results.limit.map((l) => l.clientCpuUs)))} / ${fmt(median(results.limit.map((l) => l.sinkCpuUs)))} / – | |`,
  ];
  // PostgreSQL's rows against the reference, round by round (the machine moves between rounds)
  const reference = bySystem.get(REFERENCE);
  const toReference = (system: string, rs: DeliveryResult[], rate: 'msgsPerSec' | 'steadyPerSec'): string => {
    if (!reference || !system.includes('postgres') || system === REFERENCE) return '';
    const ratios = rs.map((r, i) => r[rate] / (reference[i]?.[rate] ?? NaN)).filter(Number.isFinite);
    return ratios.length ? `${fmt(median(ratios), 2)}${range(ratios, 2)}` : '';
  };
  for (const [system, rs] of bySystem) {
    lines.push(
      `| ${system} | ${rs[0]?.n} | ${fmt(median(rs.map((r) => r.msgsPerSec)))}${range(rs.map((r) => r.msgsPerSec))} | ${fmt(median(rs.map((r) => r.steadyPerSec)))} | ${fmt(median(rs.map((r) => r.ratio)), 2)}${range(
        rs.map((r) => r.ratio),
        2,
      )} | ${toReference(system, rs, 'msgsPerSec')} | ${toReference(system, rs, 'steadyPerSec')} | ${fmt(median(rs.map((r) => r.insertPerSec)))} | ${fmt(Math.max(...rs.map((r) => r.peakRssMb)))} | ${Math.max(...rs.map((r) => r.duplicates))} | ${fmt(median(rs.map((r) => r.serviceCpuUs)))} / ${fmt(median(rs.map((r) => r.sinkCpuUs)))} / ${fmt(median(rs.map((r) => r.dbCpuUs)))} | ${fmt(median(rs.map((r) => r.cpuCeilingRatio)), 2)} |`,
    );
  }
  say(lines.join('\n'));
  if (o.pgCosts) say(pgCostTable(bySystem));
  mkdirSync('bench-results', { recursive: true });
  const file = join('bench-results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    file,
    JSON.stringify({ machine, options: o, httpLimit: results.limit, runs: results.runs, ...extra }, null, 2),
  );
  say(`\nwrote ${file}`);
}

/** --pg-costs: PostgreSQL's counters per delivered message, medians over the rounds, one row per system. */
function pgCostTable(bySystem: Map<string, DeliveryResult[]>): string {
  const cols: [keyof PgCounters, string, number][] = [
    ['commits', 'commits', 2],
    ['statements', 'statements', 2],
    ['walSyncs', 'WAL flushes', 3],
    ['walWrites', 'WAL writes', 3],
    ['walRecords', 'WAL records', 1],
    ['walFpi', 'full-page images', 2],
    ['walBytes', 'WAL bytes', 0],
    ['rowsWritten', 'rows written', 2],
  ];
  const out = [
    '',
    'PostgreSQL per delivered message (its own counters: pg_stat_database, pg_stat_wal, pg_stat_statements; medians)',
    '',
    `| system | ${cols.map((c) => c[1]).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
  ];
  for (const [system, rs] of bySystem) {
    const costs = rs.flatMap((r) => (r.pgCost ? [r.pgCost] : []));
    if (costs.length === 0) continue;
    const cell = (k: keyof PgCounters, d: number): string => {
      const xs = costs.map((c) => c[k]).filter((x): x is number => x !== null && Number.isFinite(x));
      return xs.length ? fmt(median(xs), d) : 'n/a';
    };
    out.push(`| ${system} | ${cols.map(([k, , d]) => cell(k, d)).join(' | ')} |`);
  }
  return out.join('\n');
}
