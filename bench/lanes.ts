/**
 * `bench lanes`: flow control per destination, as issue 24 states its bars, on each store.
 *
 * 1. Held: destination B (no limit) delivers `--n` messages alone, then again while destination A
 *    (`--rate`/s) has `--held` messages due: B's rate with A beside it over B's alone (bar ≥ 0.90),
 *    and A's rate over a window after B is done (bar: `--rate` ± 5%).
 * 2. Spread: `--n` messages to `default` (the configured webhook), to one destination, then spread
 *    over `--destinations` destinations: the ratio of the last two rates (bar ≥ 0.80).
 *
 * `--only alone,beside,one,default,spread` runs some of them; `--detail` prints each run's claim
 * rounds (count, mean time, messages per round) from the service's metrics.
 *
 * The service runs as users run it (`serve`, its own process), the receiver is the sink in another
 * process, the messages are written to the store before the pool starts, rounds alternate.
 */
import { parseArgs } from 'node:util';
import type { StoreKind } from '../src/config/config.js';
import { fmt, say, wholeNumber } from './report.js';
import { getJson, median, startCli, waitUntil, type Proc } from './processes.js';
import { analyzeFilled, fill, openStore, storeEnv } from './targets.js';
import type { MessageStore } from '../src/store/store.js';
import { plainSpec, type DestinationSpec } from '../src/domain/destination.js';

/** --detail: each run's claim rounds are printed */
let detail = false;

/** The service's claim rounds so far: how many, and their mean time in ms (its /metrics). */
async function claimRounds(p: Ports): Promise<{ count: number; meanMs: number }> {
  const text = await (await fetch(`http://127.0.0.1:${p.api}/metrics`)).text();
  const read = (name: string): number => {
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`message_scheduler_claim_round_duration_seconds_${name} `));
    return Number(line?.split(' ')[1] ?? NaN);
  };
  const count = read('count');
  return { count, meanMs: (read('sum') / count) * 1000 };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Ports {
  api: number;
  sink: number;
}

async function sinkPaths(p: Ports): Promise<Record<string, number>> {
  return (await getJson<{ paths: Record<string, number> }>(`http://127.0.0.1:${p.sink}/stats`)).paths;
}

const total = (paths: Record<string, number>, prefix: string): number =>
  Object.entries(paths)
    .filter(([k]) => k.startsWith(prefix))
    .reduce((a, [, v]) => a + v, 0);

async function setPool(p: Ports, action: 'start' | 'pause'): Promise<void> {
  await getJson(`http://127.0.0.1:${p.api}/worker-pool/state`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ action }),
  });
}

/** A run: a fresh store with `setUp`'s destinations and messages, the service started, the pool started. */
async function run<T>(
  kind: StoreKind,
  scenario: string,
  p: Ports,
  concurrency: number,
  setUp: (store: MessageStore) => Promise<void>,
  measure: () => Promise<T>,
): Promise<T> {
  const target = storeEnv(kind, 'lanes');
  const store = await openStore(target.env);
  let svc: Proc | null = null;
  try {
    await setUp(store);
    await analyzeFilled(kind, target.env);
    await getJson(`http://127.0.0.1:${p.sink}/reset`, { method: 'POST' });
    svc = startCli(['serve'], {
      ...target.env,
      PORT: String(p.api),
      HOST: '127.0.0.1',
      WEBHOOK_URL: `http://127.0.0.1:${p.sink}/default`,
      RATE_LIMITER_ENABLED: 'false',
      API_RATE_LIMITER_ENABLED: 'false',
      POOL_NUM_WORKERS: String(concurrency),
      POOL_INITIAL_JOB_FETCH: 'false',
      WORKER_JOB_INTERVAL: '200ms',
      LOG_LEVEL: 'error',
    });
    const s = svc;
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${p.api}/readyz`)).ok,
      30_000,
      `the service to start: ${s.output()}`,
    );
    await setPool(p, 'start');
    const result = await measure();
    if (detail) {
      const r = await claimRounds(p);
      say(`  ${kind} ${scenario}: ${fmt(r.count)} claim rounds, ${fmt(r.meanMs, 2)} ms each`);
    }
    return result;
  } finally {
    await svc?.stop();
    await store.close();
    await target.drop();
  }
}

async function destination(
  store: MessageStore,
  p: Ports,
  id: string,
  extra: Partial<DestinationSpec> = {},
): Promise<void> {
  await store.destinations.createDestination(
    id,
    plainSpec(`http://127.0.0.1:${p.sink}/${id}`, extra),
    new Date(),
  );
}

const msgsTo = (destination_id: string | ((i: number) => string)) => (i: number) => ({
  content: `lanes ${i}`,
  recipient_phone_number: '+905551234567',
  destination_id: typeof destination_id === 'string' ? destination_id : destination_id(i),
});

/**
 * Time until the sink accepted `n` requests to paths starting with `prefix` (null: to any path, read
 * from the total, so a thousand paths' tallies are not sent every 10 ms); msg/s.
 */
async function rateOf(p: Ports, prefix: string | null, n: number): Promise<number> {
  const t0 = performance.now();
  const count = async (): Promise<number> =>
    prefix === null
      ? (await getJson<{ accepted: number }>(`http://127.0.0.1:${p.sink}/stats`)).accepted
      : total(await sinkPaths(p), prefix);
  await waitUntil(async () => (await count()) >= n, 600_000, `${n} to ${prefix ?? 'the sink'}`, 10);
  return n / ((performance.now() - t0) / 1000);
}

export async function runLanesBench(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      stores: { type: 'string', default: 'sqlite,postgres' },
      n: { type: 'string' },
      held: { type: 'string' },
      rate: { type: 'string' },
      destinations: { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      window: { type: 'string' },
      only: { type: 'string' },
      detail: { type: 'boolean', default: false },
    },
  });
  const n = wholeNumber('bench lanes', 'n', values.n, 20_000);
  const held = wholeNumber('bench lanes', 'held', values.held, 50_000);
  const rate = wholeNumber('bench lanes', 'rate', values.rate, 10);
  const many = wholeNumber('bench lanes', 'destinations', values.destinations, 1000);
  const rounds = wholeNumber('bench lanes', 'rounds', values.rounds, 3);
  const concurrency = wholeNumber('bench lanes', 'concurrency', values.concurrency, 64);
  const windowS = wholeNumber('bench lanes', 'window', values.window, 20);
  const stores = (values.stores ?? '').split(',').filter(Boolean) as StoreKind[];
  const scenarios = ['alone', 'beside', 'one', 'default', 'spread'];
  const only = (values.only ?? scenarios.join(',')).split(',').filter(Boolean);
  for (const s of only)
    if (!scenarios.includes(s))
      throw new Error(`bench lanes: --only ${s} is not one of ${scenarios.join(', ')}`);
  const wants = (s: string): boolean => only.includes(s);
  detail = values.detail ?? false;
  const ports: Ports = { api: 35_000 + (process.pid % 400) * 2, sink: 35_001 + (process.pid % 400) * 2 };
  const sink = startCli(['sink', '--port', String(ports.sink), '--keep', '0'], {});
  try {
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${ports.sink}/stats`)).ok,
      30_000,
      'the sink to start',
    );
    say(
      `bench lanes: ${fmt(n)} messages, ${concurrency} workers, ${rounds} alternated rounds; A at ${rate}/s with ${fmt(held)} due; ${fmt(many)} destinations`,
    );
    for (const kind of stores) {
      const alone: number[] = [];
      const beside: number[] = [];
      const aRates: number[] = [];
      const one: number[] = [];
      const byDefault: number[] = [];
      const spread: number[] = [];
      // a scenario that ends when the sink has all `n` messages: its rate
      const throughput = (scenario: string, setUp: (s: MessageStore) => Promise<void>): Promise<number> =>
        run(kind, scenario, ports, concurrency, setUp, () => rateOf(ports, null, n));
      for (let r = 0; r < rounds; r++) {
        const line: string[] = [];
        if (wants('alone')) {
          alone.push(
            await throughput('alone', async (s) => {
              await destination(s, ports, 'b');
              await fill(s, n, msgsTo('b'));
            }),
          );
          line.push(`B alone ${fmt(alone[r] ?? 0)} msg/s`);
        }
        if (wants('beside')) {
          const [b, a] = await run(
            kind,
            'beside',
            ports,
            concurrency,
            async (s) => {
              await destination(s, ports, 'a', { rate_limit: { limit: rate, period_ms: 1000, burst: rate } });
              await destination(s, ports, 'b');
              await fill(s, held, msgsTo('a'));
              await fill(s, n, msgsTo('b'));
            },
            async () => {
              const bRate = await rateOf(ports, '/b', n);
              // A's rate once B is done, over a window of its own (its first burst left out)
              const a0 = total(await sinkPaths(ports), '/a');
              const t0 = performance.now();
              await sleep(windowS * 1000);
              const a1 = total(await sinkPaths(ports), '/a');
              return [bRate, (a1 - a0) / ((performance.now() - t0) / 1000)] as const;
            },
          );
          beside.push(b);
          aRates.push(a);
          line.push(`B beside A ${fmt(b)} msg/s, A ${fmt(a, 2)}/s`);
        }
        if (wants('one')) {
          one.push(
            await throughput('one', async (s) => {
              await destination(s, ports, 'one');
              await fill(s, n, msgsTo('one'));
            }),
          );
          line.push(`one destination ${fmt(one[r] ?? 0)} msg/s`);
        }
        if (wants('default')) {
          byDefault.push(await throughput('default', (s) => fill(s, n).then(() => undefined)));
          line.push(`default ${fmt(byDefault[r] ?? 0)} msg/s`);
        }
        if (wants('spread')) {
          spread.push(
            await throughput('spread', async (s) => {
              for (let i = 0; i < many; i++) await destination(s, ports, `d${i}`);
              await fill(
                s,
                n,
                msgsTo((i) => `d${i % many}`),
              );
            }),
          );
          line.push(`${many} destinations ${fmt(spread[r] ?? 0)} msg/s`);
        }
        say(`${kind} round ${r + 1}: ${line.join('; ')}`);
      }
      const ratio = (xs: number[], ys: number[]): number[] => xs.map((x, i) => x / (ys[i] ?? NaN));
      say('');
      say(`| ${kind} | per round | median |`);
      say('|---|---|---|');
      const row = (name: string, xs: number[], d = 0): void =>
        say(`| ${name} | ${xs.map((x) => fmt(x, d)).join(', ')} | ${fmt(median(xs), d)} |`);
      row('B alone, msg/s', alone);
      row('B beside A held at its rate, msg/s', beside);
      row('B beside A / B alone (bar ≥ 0.90)', ratio(beside, alone), 3);
      row(`A, msg/s (bar ${rate} ± 5%)`, aRates, 2);
      row('default (the configured webhook), msg/s', byDefault);
      row('one destination, msg/s', one);
      row('one destination / default', ratio(one, byDefault), 3);
      row(`${many} destinations, msg/s`, spread);
      row(`${many} destinations / one (bar ≥ 0.80)`, ratio(spread, one), 3);
      say('');
    }
  } finally {
    await sink.stop('SIGTERM');
  }
}
