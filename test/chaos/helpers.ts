/**
 * The fault-injection suite's own servers, stores and service processes.
 *
 * It runs a separate set of PostgreSQL, Redis and FerretDB (other ports, other
 * data folder) through scripts/services.sh, so stopping one of them cannot
 * disturb any other test. Services are real `message-scheduler serve`
 * processes; the only fake is the receiver (the project's sink).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { MongoClient } from 'mongodb';
import { loadConfig, type StoreKind } from '../../src/config/config.js';
import { createStore } from '../../src/store/create-store.js';
import type { MessageStore } from '../../src/store/store.js';
import type { NewMessage } from '../../src/domain/message.js';
import { startCli, type Proc } from '../../bench/processes.js';

const SERVICES_ENV = {
  MS_SERVICES_DIR: '/var/tmp/message-scheduler-chaos',
  MS_PG_PORT: '54339',
  MS_REDIS_PORT: '63809',
  MS_MONGO_PORT: '27028',
  // crash-safe PostgreSQL: with synchronous_commit=off a killed server forgets commits it
  // acknowledged, and the outage test would count repeats the service did not cause
  MS_PG_DURABLE: '1',
};

export const CHAOS_URLS = {
  postgres: `postgres://postgres@127.0.0.1:${SERVICES_ENV.MS_PG_PORT}/postgres`,
  redis: `redis://127.0.0.1:${SERVICES_ENV.MS_REDIS_PORT}`,
  mongodb: `mongodb://127.0.0.1:${SERVICES_ENV.MS_MONGO_PORT}/`,
};

export type Server = 'postgres' | 'redis' | 'ferretdb';

/** scripts/services.sh on the suite's own servers: up, stop NAME, start NAME. */
export function services(...args: string[]): void {
  execFileSync('scripts/services.sh', args, {
    env: { ...process.env, ...SERVICES_ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(3).toString('hex')}`;
}

/** A fresh store of one kind: the env a service needs, a handle for the test, and cleanup. */
export interface Target {
  kind: StoreKind;
  env: Record<string, string>;
  open(): Promise<MessageStore>;
  drop(): Promise<void>;
}

/** `sqliteDir`: put the SQLite file there (and leave the folder) instead of a new temp folder. */
export function target(kind: StoreKind, sqliteDir?: string): Target {
  let storeEnv: Record<string, string>;
  let drop: () => Promise<void>;
  if (kind === 'sqlite') {
    const dir = sqliteDir ?? mkdtempSync(join(tmpdir(), 'ms-chaos-'));
    storeEnv = { SQLITE_PATH: join(dir, 'messages.db') };
    drop = async () => {
      if (sqliteDir)
        for (const f of ['', '-wal', '-shm']) rmSync(join(dir, 'messages.db' + f), { force: true });
      else rmSync(dir, { recursive: true, force: true });
    };
  } else if (kind === 'postgres') {
    const schema = uniqueName('chaos');
    storeEnv = { DATABASE_URL: CHAOS_URLS.postgres, DATABASE_SCHEMA: schema };
    drop = async () => {
      const c = new pg.Client({ connectionString: CHAOS_URLS.postgres });
      await c.connect();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    };
  } else {
    const db = uniqueName('chaos');
    storeEnv = { MONGODB_URI: CHAOS_URLS.mongodb, MESSAGES_DB_NAME: db };
    drop = async () => {
      const c = new MongoClient(CHAOS_URLS.mongodb);
      await c.db(db).dropDatabase();
      await c.close();
    };
  }
  return {
    kind,
    env: storeEnv,
    async open() {
      const store = await createStore(
        loadConfig({ ...storeEnv, CONFIG_PATH: '.config', CONFIG_ENV: 'dev' }).store,
      );
      await store.init();
      return store;
    },
    drop,
  };
}

export async function fill(store: MessageStore, n: number, make?: (i: number) => NewMessage): Promise<void> {
  for (let i = 0; i < n; i += 1000) {
    await store.create(
      Array.from(
        { length: Math.min(1000, n - i) },
        (_, j) => make?.(i + j) ?? { content: `chaos ${i + j}`, recipient_phone_number: '+905551234567' },
      ),
      new Date(),
    );
  }
}

// below the ephemeral range (32768+ on Linux), where a client socket or a port-0 sink can sit,
// and clear of the test servers (27018, 27028, 54329, ...)
let nextPort = 10_000 + (process.pid % 400) * 20;

export interface Service extends Proc {
  port: number;
  url: string;
}

/** Starts `message-scheduler serve` and waits until /healthz answers. */
export async function serve(env: Record<string, string>, sinkUrl: string): Promise<Service> {
  const port = nextPort++;
  const proc = startCli(['serve'], {
    PORT: String(port),
    HOST: '127.0.0.1',
    WEBHOOK_URL: sinkUrl,
    RATE_LIMITER_ENABLED: 'false',
    API_RATE_LIMITER_ENABLED: 'false',
    POOL_NUM_WORKERS: '64',
    WORKER_JOB_INTERVAL: '100ms',
    ...env,
  });
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  for (;;) {
    // each probe bounded: a port held by a process that does not answer must not eat the whole wait
    if ((await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null))?.ok) break;
    if (proc.child.exitCode !== null || Date.now() - t0 > 60_000) {
      const how =
        proc.child.exitCode !== null ? `it exited with ${proc.child.exitCode}` : 'no answer in 60 s';
      await proc.stop('SIGKILL');
      throw new Error(`the service on ${port} did not start (${how}): ${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return Object.assign(proc, { port, url });
}

/** Lines of the service's pino output (JSON), for what it said it did. */
export function logLines(proc: Proc): { msg?: string; [k: string]: unknown }[] {
  return proc
    .output()
    .split('\n')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as { msg?: string }];
      } catch {
        return [];
      }
    });
}

/** Prints one scenario's figures where CI's log shows them, and keeps them for the summary. */
export function report(scenario: string, figures: Record<string, unknown>): void {
  process.stdout.write(`chaos: ${scenario}: ${JSON.stringify(figures)}\n`);
}

/** A seeded generator, so a failing run can be replayed (CHAOS_SEED). */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
