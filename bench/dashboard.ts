/**
 * `bench dashboard`: what the dashboard's reads cost with `--n` (1,000,000) stored messages, on
 * SQLite and on PostgreSQL (run it against a durable server: DATABASE_URL), as issue 26 states
 * its bar: the overview and a filtered message page answer in ≤ 200 ms at the 99th percentile.
 *
 * The messages are written straight into the store's tables (a month of traffic: 90% sent, 5%
 * failed, 2% unsent, the rest cancelled, unknown or refused; 20 destinations, 100,000 recipients,
 * a fifth in fan-out groups), so the table, its indexes and the planner's statistics (PostgreSQL
 * analyzes as autovacuum would) are what a month of use leaves. Then the service runs as users run
 * it (`serve`, its own process, the pool paused: no delivery competes) and each read is requested
 * `--requests` times over HTTP, one at a time: its median, p99 and max.
 */
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import type { StoreKind } from '../src/config/config.js';
import { fmt, say, wholeNumber } from './report.js';
import { median, percentile, startCli, waitUntil, type Proc } from './processes.js';
import { openStore, storeEnv, withPgClient } from './targets.js';

const DAY = 86_400_000;
const DESTINATIONS = 20;
const RECIPIENTS = 100_000;

/** The status of message i: the shares of a month of traffic. */
function statusOf(i: number): string {
  const r = i % 100;
  return r < 90
    ? 'sent'
    : r < 95
      ? 'failed'
      : r < 97
        ? 'unsent'
        : r < 98
          ? 'cancelled'
          : r < 99
            ? 'unknown'
            : 'invalid_content';
}
const recipientOf = (i: number): string => `+90555${String(i % RECIPIENTS).padStart(6, '0')}`;
const destinationOf = (i: number): string | null => (i % DESTINATIONS === 0 ? null : `d${i % DESTINATIONS}`);
const groupOf = (i: number): string | null => (i % 5 === 0 ? `grp_${Math.floor(i / 25)}` : null);
const idOf = (i: number): string => i.toString(16).padStart(24, '0');

async function seedSqlite(path: string, n: number, now: number): Promise<void> {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  const insert = db.prepare(
    `INSERT INTO messages (id, content, recipient_phone_number, status, created_at, sent_at, send_at, due_at,
       priority, attempts, last_error, updated_at, webhook_id, destination_id, group_id)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?)`,
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) {
      const created = now - 30 * DAY + Math.floor((i * 30 * DAY) / n);
      const status = statusOf(i);
      const due = status === 'unsent' ? created + 31 * DAY : created;
      insert.run(
        idOf(i),
        `bench message ${i}`,
        recipientOf(i),
        status,
        created,
        status === 'sent' ? created + 1000 : null,
        due,
        due,
        status === 'unsent' ? 0 : 1,
        status === 'failed' || status === 'unknown' ? 'HTTP 500' : null,
        created + 1000,
        `msg_${idOf(i)}`,
        destinationOf(i),
        groupOf(i),
      );
    }
  });
  for (let i = 0; i < n; i += 50_000) batch(i, Math.min(n, i + 50_000));
  db.close();
}

function seedPostgres(url: string, schema: string, n: number, now: number): Promise<void> {
  return withPgClient(url, async (c) => {
    await c.query(`SET search_path TO "${schema}"`);
    const step = 100_000;
    for (let from = 0; from < n; from += step) {
      // the same rows as SQLite's, made by the server
      await c.query(
        `INSERT INTO messages (id, content, recipient_phone_number, status, created_at, sent_at, send_at, due_at,
           priority, attempts, last_error, updated_at, webhook_id, destination_id, group_id)
         SELECT lpad(to_hex(i), 24, '0'), 'bench message ' || i, '+90555' || lpad((i % ${RECIPIENTS})::text, 6, '0'),
           s.status, s.created, CASE WHEN s.status = 'sent' THEN s.created + interval '1 second' END,
           s.due, s.due, 0, CASE WHEN s.status = 'unsent' THEN 0 ELSE 1 END,
           CASE WHEN s.status IN ('failed', 'unknown') THEN 'HTTP 500' END, s.created + interval '1 second',
           'msg_' || lpad(to_hex(i), 24, '0'),
           CASE WHEN i % ${DESTINATIONS} = 0 THEN NULL ELSE 'd' || (i % ${DESTINATIONS}) END,
           CASE WHEN i % 5 = 0 THEN 'grp_' || (i / 25) END
         FROM generate_series($1::bigint, $2::bigint) i,
         LATERAL (SELECT
           CASE WHEN i % 100 < 90 THEN 'sent' WHEN i % 100 < 95 THEN 'failed' WHEN i % 100 < 97 THEN 'unsent'
                WHEN i % 100 < 98 THEN 'cancelled' WHEN i % 100 < 99 THEN 'unknown' ELSE 'invalid_content' END AS status,
           to_timestamp(($3::bigint - 30 * ${DAY}::bigint + (i * 30 * ${DAY}::bigint) / $4::bigint) / 1000.0) AS created) c0,
         LATERAL (SELECT c0.status, c0.created,
           CASE WHEN c0.status = 'unsent' THEN c0.created + interval '31 days' ELSE c0.created END AS due) s`,
        [from, Math.min(n, from + step) - 1, now, n],
      );
    }
    await c.query('ANALYZE messages');
  });
}

interface Row {
  store: string;
  read: string;
  p50: number;
  p99: number;
  max: number;
  items: number;
}

async function measure(base: string, path: string, requests: number): Promise<Omit<Row, 'store' | 'read'>> {
  const times: number[] = [];
  let items = 0;
  for (let i = 0; i < requests + 20; i++) {
    const t0 = performance.now();
    const res = await fetch(base + path);
    const body = (await res.json()) as unknown;
    const ms = performance.now() - t0;
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${JSON.stringify(body)}`);
    if (i >= 20) times.push(ms); // the first 20 warm the caches and the prepared statements
    items = Array.isArray(body) ? body.length : 1;
  }
  return { p50: median(times), p99: percentile(times, 99), max: Math.max(...times), items };
}

async function runOne(kind: StoreKind, n: number, requests: number, port: number): Promise<Row[]> {
  const target = storeEnv(kind, 'ui');
  let svc: Proc | null = null;
  try {
    const store = await openStore(target.env); // migrations
    await store.close();
    const now = Date.now();
    const t0 = performance.now();
    if (kind === 'sqlite') await seedSqlite(target.env.SQLITE_PATH ?? '', n, now);
    else await seedPostgres(target.env.DATABASE_URL ?? '', target.env.DATABASE_SCHEMA ?? '', n, now);
    say(`# ${kind}: ${fmt(n)} messages written in ${fmt((performance.now() - t0) / 1000, 1)} s`);
    svc = startCli(['serve'], {
      ...target.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      WEBHOOK_URL: 'http://127.0.0.1:9/none',
      API_RATE_LIMITER_ENABLED: 'false',
      POOL_INITIAL_JOB_FETCH: 'false',
      LOG_LEVEL: 'error',
    });
    const s = svc;
    await waitUntil(
      async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok === true,
      60_000,
      `the service: ${s.output()}`,
    );
    const base = `http://127.0.0.1:${port}`;
    const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
    const firstFailed = await fetch(`${base}/messages?status=failed&limit=50`);
    const cursor = new URL(
      /<([^>]*)>/.exec(firstFailed.headers.get('link') ?? '')?.[1] ?? '/',
      base,
    ).searchParams.get('cursor');
    await firstFailed.arrayBuffer();
    const reads: [string, string][] = [
      ['overview', '/overview'],
      ['newest 50', '/messages?limit=50'],
      ['failed', '/messages?status=failed&limit=50'],
      ['failed, page 2', `/messages?status=failed&limit=50&cursor=${cursor ?? ''}`],
      ['failed of one destination', '/messages?status=failed&destination=d12&limit=50'],
      ['one destination', '/messages?destination=d7&limit=50'],
      ['one group', `/messages?group_id=grp_${Math.floor(n / 50)}&limit=50`],
      ['one recipient', `/messages?recipient=${encodeURIComponent(recipientOf(12_345))}&limit=50`],
      [
        'created in an hour, 2 weeks ago',
        `/messages?from=${iso(now - 14 * DAY)}&to=${iso(now - 14 * DAY + 3_600_000)}&limit=50`,
      ],
      [
        'failed in an hour, 2 weeks ago',
        `/messages?status=failed&from=${iso(now - 14 * DAY)}&to=${iso(now - 14 * DAY + 3_600_000)}&limit=50`,
      ],
      ['sent, last day', `/messages?status=sent&from=${iso(now - DAY)}&limit=50`],
      ['unsent (delivery order)', '/messages?status=unsent&limit=50'],
      ['by idempotency key (none)', '/messages?idempotency_key=nope&limit=50'],
    ];
    const rows: Row[] = [];
    for (const [read, path] of reads)
      rows.push({ store: kind, read, ...(await measure(base, path, requests)) });
    return rows;
  } finally {
    await svc?.stop();
    await target.drop();
  }
}

export async function runDashboardBench(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      n: { type: 'string' },
      requests: { type: 'string' },
      stores: { type: 'string', default: 'sqlite,postgres' },
      port: { type: 'string' },
    },
  });
  const n = wholeNumber('bench dashboard', 'n', values.n, 1_000_000, 1000);
  const requests = wholeNumber('bench dashboard', 'requests', values.requests, 300, 10);
  const port = wholeNumber('bench dashboard', 'port', values.port, 3931);
  const stores = (values.stores ?? '').split(',').filter(Boolean) as StoreKind[];
  for (const s of stores) {
    if (s !== 'sqlite' && s !== 'postgres')
      throw new Error(`bench dashboard: --stores ${s}: expected sqlite and/or postgres`);
  }
  const rows: Row[] = [];
  for (const kind of stores) rows.push(...(await runOne(kind, n, requests, port)));
  say(
    `\nThe dashboard's reads with ${fmt(n)} messages, ${requests} requests each, one at a time (ms over HTTP)\n`,
  );
  say('| store | read | items | p50 | p99 | max | p99 ≤ 200 ms |');
  say('|---|---|---:|---:|---:|---:|---|');
  for (const r of rows) {
    say(
      `| ${r.store} | ${r.read} | ${r.items} | ${fmt(r.p50, 1)} | ${fmt(r.p99, 1)} | ${fmt(r.max, 1)} | ${r.p99 <= 200 ? 'yes' : 'NO'} |`,
    );
  }
}
