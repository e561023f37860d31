import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { MongoClient } from 'mongodb';
import { loadConfig, type StoreKind } from '../src/config/config.js';
import { createStore } from '../src/store/create-store.js';
import type { MessageStore } from '../src/store/store.js';
import type { NewMessage } from '../src/domain/message.js';

/** The repository (or package) root: bench/ or dist/bench/ is one or two levels below it. */
const ROOT = ((): string => {
  const here = dirname(fileURLToPath(import.meta.url));
  return here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
})();

/**
 * Where a benchmark run keeps its messages: a fresh SQLite file, PostgreSQL
 * schema or MongoDB database per run, dropped afterwards.
 */
export function storeEnv(
  kind: StoreKind,
  tag: string,
): { env: Record<string, string>; drop(): Promise<void> } {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'ms-bench-'));
    return {
      env: { SQLITE_PATH: join(dir, 'messages.db') },
      drop: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  if (kind === 'postgres') {
    const url = benchPostgresUrl();
    const schema = `bench_${tag}_${process.pid}`;
    return {
      env: { DATABASE_URL: url, DATABASE_SCHEMA: schema },
      drop: () => pgStatement(url, `DROP SCHEMA IF EXISTS "${schema}" CASCADE`),
    };
  }
  const uri = process.env.MONGODB_URI;
  if (!uri) throw new Error('bench: MONGODB_URI is not set (eval "$(scripts/services.sh env)")');
  const db = `bench_${tag}_${process.pid}`;
  return {
    env: { MONGODB_URI: uri, MESSAGES_DB_NAME: db },
    async drop() {
      const c = new MongoClient(uri);
      await c.db(db).dropDatabase();
      await c.close();
    },
  };
}

/**
 * The PostgreSQL the benchmarks measure: one with the server's default, durable settings (`fsync`,
 * `synchronous_commit`, `full_page_writes` on), as users run it, never the tests' fast server
 * (`scripts/services.sh` turns those off for the unit tests). `MS_BENCH_DATABASE_URL` names one;
 * otherwise the benchmark starts its own on 127.0.0.1:54359 (data in /var/tmp/message-scheduler-bench,
 * through scripts/services.sh, idempotent). postgresSettings() prints what the server runs with.
 */
let benchPg: string | null = null;
export function benchPostgresUrl(): string {
  if (benchPg) return benchPg;
  const given = process.env.MS_BENCH_DATABASE_URL;
  if (given) return (benchPg = given);
  const port = '54359';
  execFileSync(join(ROOT, 'scripts', 'services.sh'), ['start', 'postgres'], {
    env: {
      ...process.env,
      MS_SERVICES_DIR: '/var/tmp/message-scheduler-bench',
      MS_PG_PORT: port,
      MS_PG_DURABLE: '1',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return (benchPg = `postgres://postgres@127.0.0.1:${port}/postgres`);
}

/** The settings a PostgreSQL figure depends on, as one line for the benchmark's output. */
export function postgresSettings(url: string = benchPostgresUrl()): Promise<string> {
  return withPgClient(url, async (c) => {
    const show = async (name: string) =>
      (await c.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name] ?? '?';
    const version = await show('server_version');
    // the three a commit's durability depends on, then two that size what a commit writes
    const durability = ['fsync', 'synchronous_commit', 'full_page_writes'];
    const settings = [...durability, 'wal_level', 'shared_buffers'];
    // one at a time: a pg Client runs one query at a time (queuing more is deprecated in pg 8, an error in pg 9)
    const values = new Map<string, string>();
    for (const s of settings) values.set(s, await show(s));
    const durable = durability.every((s) => values.get(s) === 'on');
    const listed = [...values].map(([k, v]) => `${k}=${v}`).join(', ');
    const where = new URL(url);
    return `${version} at ${where.hostname}:${where.port || '5432'}: ${listed} (${durable ? 'durable: the defaults users run' : 'NOT durable: figures not comparable to a production server'})`;
  });
}

export async function openStore(env: Record<string, string>): Promise<MessageStore> {
  const store = await createStore(loadConfig({ ...env, CONFIG_PATH: '.config', CONFIG_ENV: 'dev' }).store);
  await store.init();
  return store;
}

/**
 * After a bulk fill, what autovacuum would soon do on a running PostgreSQL: collect the messages
 * table's statistics, so the timed run's plans are a running server's. Without them the
 * hand-written SQL's first quarter ran a third slower than the rest at n = 20,000 (its server CPU
 * 62 against 45 µs per message): planner estimates for a table never analyzed. Other stores:
 * nothing (SQLite plans as its users' databases do, without `ANALYZE`).
 */
export async function analyzeFilled(kind: StoreKind, env: Record<string, string>): Promise<void> {
  if (kind !== 'postgres') return;
  await pgStatement(env.DATABASE_URL ?? '', `ANALYZE "${env.DATABASE_SCHEMA ?? 'public'}".messages`);
}

/** A PostgreSQL connection of its own for `use`, ended after it (the benchmark's work outside any store). */
export async function withPgClient<T>(url: string, use: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await use(c);
  } finally {
    await c.end();
  }
}

/** One statement on a connection of its own (the benchmark's set-up and clean-up). */
export async function pgStatement(url: string, sql: string): Promise<void> {
  await withPgClient(url, (c) => c.query(sql));
}

export async function fill(
  store: MessageStore,
  n: number,
  make: (i: number) => NewMessage = (i) => ({
    content: `benchmark message ${i}`,
    recipient_phone_number: '+905551234567',
  }),
): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i += 1000) {
    await store.create(
      Array.from({ length: Math.min(1000, n - i) }, (_, j) => make(i + j)),
      new Date(),
    );
  }
  return n / ((performance.now() - t0) / 1000);
}
