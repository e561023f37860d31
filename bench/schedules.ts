/**
 * `bench schedules`: issue 25's figures.
 *
 * 1. On time: `--per-second` occurrences a second for `--seconds`, spread evenly over each second,
 *    made by schedules (`every: 1s`, start offsets spread over the second), against the same
 *    instants as plain messages stored ahead (what `bench`'s accuracy run measures), alternated
 *    over `--rounds`: how late each reaches the sink (p50, p99, max; negative: early).
 * 2. Scale: the scheduler's pass over `--due` schedules due every second with 1,000 … 100,000
 *    other active schedules (due later): the pass's median time, which an index on next_run_at
 *    keeps flat, and the due query's plan on each store.
 *
 * The service runs as users run it (`serve`, its own process), the sink in another process.
 */
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { StoreKind } from '../src/config/config.js';
import type { MessageStore } from '../src/store/store.js';
import { Scheduler } from '../src/schedules/scheduler.js';
import { ScheduleService } from '../src/schedules/schedule-service.js';
import { silentLogger } from '../src/logging/logger.js';
import { fmt, say, wholeNumber } from './report.js';
import { getJson, median, percentile, startCli, waitUntil, type Proc } from './processes.js';
import { openStore, storeEnv, withPgClient } from './targets.js';

interface Ports {
  api: number;
  sink: number;
}

interface Lateness {
  n: number;
  p50: number;
  p99: number;
  max: number;
  early: number;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const message = { content: 'bench schedule', recipient_phone_number: '+15550100' };

/** Every message's send_at by webhook id. */
async function sendAts(store: MessageStore): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let after;
  for (;;) {
    const page = await store.list({ order: 'created', limit: 1000, ...(after ? { after } : {}) });
    for (const m of page.items) out.set(m.webhook_id, m.send_at.getTime());
    if (!page.next) return out;
    after = page.next;
  }
}

/** One run on a fresh store: `mode`'s occurrences delivered by a service; their lateness at the sink. */
async function onTime(
  kind: StoreKind,
  mode: 'messages' | 'schedules',
  p: Ports,
  perSecond: number,
  seconds: number,
): Promise<Lateness> {
  const target = storeEnv(kind, 'sched');
  const store = await openStore(target.env);
  let svc: Proc | null = null;
  const n = perSecond * seconds;
  try {
    await getJson(`http://127.0.0.1:${p.sink}/reset`, { method: 'POST' });
    svc = startCli(['serve'], {
      ...target.env,
      PORT: String(p.api),
      HOST: '127.0.0.1',
      WEBHOOK_URL: `http://127.0.0.1:${p.sink}/hook`,
      RATE_LIMITER_ENABLED: 'false',
      API_RATE_LIMITER_ENABLED: 'false',
      POOL_INITIAL_JOB_FETCH: 'true',
      LOG_LEVEL: 'error',
      // MS_BENCH_ENV: settings of the service for one run, as JSON ({"WORKER_JOB_INTERVAL": "50ms"})
      ...(JSON.parse(process.env.MS_BENCH_ENV ?? '{}') as Record<string, string>),
    });
    const s = svc;
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${p.api}/readyz`)).ok,
      30_000,
      `the service to start: ${s.output()}`,
    );
    const start = Math.ceil((Date.now() + 4000) / 1000) * 1000;
    const offset = (i: number): number => Math.floor((i * 1000) / perSecond);
    if (mode === 'messages') {
      for (let i = 0; i < n; i += 1000) {
        await store.create(
          Array.from({ length: Math.min(1000, n - i) }, (_, j) => ({
            ...message,
            send_at: new Date(start + Math.floor(((i + j) * 1000) / perSecond)),
          })),
          new Date(),
        );
      }
    } else {
      const service = new ScheduleService({ store, exists: async () => true });
      for (let i = 0; i < perSecond; i++) {
        await service.create(
          {
            every: '1s',
            start_at: new Date(start + offset(i)).toISOString(),
            end_at: new Date(start + offset(i) + (seconds - 1) * 1000).toISOString(),
            message,
          },
          new Date(),
        );
      }
    }
    if (Date.now() > start) throw new Error('bench schedules: set-up took longer than the lead time');
    await waitUntil(
      async () => (await getJson<{ accepted: number }>(`http://127.0.0.1:${p.sink}/stats`)).accepted >= n,
      seconds * 1000 + 60_000,
      `${n} deliveries`,
      50,
    );
    const due = await sendAts(store);
    const got = await getJson<{ webhook_id: string; received_at: string }[]>(
      `http://127.0.0.1:${p.sink}/deliveries`,
    );
    const late = got.flatMap((d) => {
      const at = due.get(d.webhook_id);
      return at === undefined ? [] : [Date.parse(d.received_at) - at];
    });
    return {
      n: late.length,
      p50: percentile(late, 50),
      p99: percentile(late, 99),
      max: Math.max(...late),
      early: late.filter((x) => x < 0).length,
    };
  } finally {
    await svc?.stop();
    await store.close();
    await target.drop();
  }
}

/** The due query's plan, as each store runs it. */
async function plan(kind: StoreKind, env: Record<string, string>): Promise<string> {
  if (kind === 'sqlite') {
    const db = new Database(env.SQLITE_PATH ?? '', { readonly: true });
    try {
      const rows = db
        .prepare(
          "EXPLAIN QUERY PLAN SELECT * FROM schedules WHERE status = 'active' AND next_run_at <= ? ORDER BY next_run_at LIMIT ?",
        )
        .all(Date.now(), 200) as { detail: string }[];
      return rows.map((r) => r.detail).join('; ');
    } finally {
      db.close();
    }
  }
  return withPgClient(env.DATABASE_URL ?? '', async (c) => {
    // the settings the store's own connections run with (postgres-store.ts)
    await c.query(`SET search_path = "${env.DATABASE_SCHEMA ?? 'public'}"`);
    for (const off of ['enable_bitmapscan', 'enable_sort', 'enable_seqscan', 'jit'])
      await c.query(`SET ${off} = off`);
    const { rows } = await c.query<{ 'QUERY PLAN': string }>(
      `EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) SELECT id FROM schedules
       WHERE status = 'active' AND next_run_at <= now() + interval '5 seconds' ORDER BY next_run_at LIMIT 200`,
    );
    return rows.map((r) => r['QUERY PLAN'].trim()).join('; ');
  });
}

/** The pass's median time with `idle` other active schedules (due over the next day). */
async function scale(
  kind: StoreKind,
  idle: number,
  due: number,
  passes: number,
): Promise<{ ms: number; plan: string }> {
  const target = storeEnv(kind, 'sscale');
  const store = await openStore(target.env);
  try {
    const now = Date.now();
    const spec = {
      cron: null,
      every_ms: 86_400_000,
      timezone: 'UTC',
      start_at: null,
      end_at: null,
      limit: null,
      missed: 'skip' as const,
      description: '',
      message: { ...message, priority: 0, destination: null, topic: null },
    };
    for (let i = 0; i < idle; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, idle - i) }, (_, j) =>
          store.schedules.createSchedule(
            `idle-${i + j}`,
            spec,
            // later than any pass of this run: never due here
            { status: 'active', next_run_at: new Date(now + 3_600_000 + ((i + j) * 86_400_000) / idle) },
            new Date(now),
          ),
        ),
      );
    }
    const service = new ScheduleService({ store, exists: async () => true });
    for (let i = 0; i < due; i++) {
      await service.create({ every: '1s', start_at: new Date(now).toISOString(), message }, new Date(now));
    }
    const scheduler = new Scheduler({
      store,
      exists: async () => true,
      intervalMs: 1000,
      lookaheadMs: 5000,
      missedAfterMs: 60_000,
      catchUpMax: 100,
      logger: silentLogger(),
      onCreated: () => undefined,
    });
    const times: number[] = [];
    for (let k = 0; k < passes + 5; k++) {
      const t0 = performance.now();
      await scheduler.pass(new Date(now + k * 1000));
      if (k >= 5) times.push(performance.now() - t0);
    }
    return { ms: median(times), plan: await plan(kind, target.env) };
  } finally {
    await store.close();
    await target.drop();
  }
}

export async function runSchedulesBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      stores: { type: 'string' },
      'per-second': { type: 'string' },
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      scale: { type: 'string' },
      due: { type: 'string' },
      passes: { type: 'string' },
      'no-on-time': { type: 'boolean' },
      'no-scale': { type: 'boolean' },
    },
  });
  const stores = (values.stores ?? 'sqlite,postgres').split(',') as StoreKind[];
  const perSecond = wholeNumber('bench schedules', 'per-second', values['per-second'], 500, 1);
  const seconds = wholeNumber('bench schedules', 'seconds', values.seconds, 10, 2);
  const rounds = wholeNumber('bench schedules', 'rounds', values.rounds, 2, 1);
  const due = wholeNumber('bench schedules', 'due', values.due, 20, 1);
  const passes = wholeNumber('bench schedules', 'passes', values.passes, 30, 1);
  const sizes = (values.scale ?? '1000,10000,100000')
    .split(',')
    .map((x) => wholeNumber('bench schedules', 'scale', x, 1000, 0));
  if (!values['no-on-time']) {
    const ports: Ports = { api: 36_000 + (process.pid % 400) * 2, sink: 36_001 + (process.pid % 400) * 2 };
    const sink = startCli(['sink', '--port', String(ports.sink), '--keep', String(perSecond * seconds)], {});
    try {
      await waitUntil(
        async () => (await fetch(`http://127.0.0.1:${ports.sink}/stats`)).ok,
        30_000,
        'the sink',
      );
      say(
        `bench schedules: on time, ${fmt(perSecond)}/s over ${seconds} s, ${rounds} alternated rounds (ms late at the sink)`,
      );
      for (const kind of stores) {
        const runs: Record<'messages' | 'schedules', Lateness[]> = { messages: [], schedules: [] };
        for (let r = 0; r < rounds; r++) {
          for (const mode of r % 2
            ? (['schedules', 'messages'] as const)
            : (['messages', 'schedules'] as const)) {
            const l = await onTime(kind, mode, ports, perSecond, seconds);
            runs[mode].push(l);
            say(`  ${kind} ${mode} round ${r + 1}: ${JSON.stringify(l)}`);
            await sleep(500);
          }
        }
        for (const mode of ['messages', 'schedules'] as const) {
          const m = (k: keyof Lateness) => median(runs[mode].map((x) => x[k]));
          say(
            `  ${kind} ${mode}: median of rounds p50 ${m('p50')} ms, p99 ${m('p99')} ms, max ${m('max')} ms, early ${m('early')}`,
          );
        }
      }
    } finally {
      await sink.stop();
    }
  }
  if (!values['no-scale']) {
    say(
      `bench schedules: the scheduler's pass with ${due} schedules due every second beside others (median of ${passes} passes)`,
    );
    for (const kind of stores) {
      for (const idle of sizes) {
        const r = await scale(kind, idle, due, passes);
        say(`  ${kind} ${fmt(idle)} other active schedules: ${r.ms.toFixed(2)} ms a pass`);
        if (idle === sizes[sizes.length - 1]) say(`    plan: ${r.plan}`);
      }
    }
  }
}
