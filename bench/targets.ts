import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { MongoClient } from 'mongodb';
import { loadConfig, type StoreKind } from '../src/config/config.js';
import { createStore } from '../src/store/create-store.js';
import type { MessageStore } from '../src/store/store.js';
import type { NewMessage } from '../src/domain/message.js';

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
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error('bench: DATABASE_URL is not set (eval "$(scripts/services.sh env)")');
    const schema = `bench_${tag}_${process.pid}`;
    return {
      env: { DATABASE_URL: url, DATABASE_SCHEMA: schema },
      async drop() {
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await c.end();
      },
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

export async function openStore(env: Record<string, string>): Promise<MessageStore> {
  const store = await createStore(loadConfig({ ...env, CONFIG_PATH: '.config', CONFIG_ENV: 'dev' }).store);
  await store.init();
  return store;
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
