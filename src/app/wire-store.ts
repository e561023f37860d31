import { readFileSync } from 'node:fs';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import { createStore } from '../store/create-store.js';
import { NoCache, type Cache } from '../cache/cache.js';
import { RedisCache } from '../cache/redis-cache.js';
import { seedMessages, type SeedReport } from '../seed/seed.js';

/** The configured store, initialized (tables, indexes, migrations); or the one a test hands in, as it is. */
export async function openStore(config: Config, logger: Logger, given?: MessageStore): Promise<MessageStore> {
  if (given) return given;
  const store = await createStore(config.store, 10, logger);
  try {
    await store.init();
  } catch (err) {
    await store.close().catch(() => undefined);
    throw err;
  }
  return store;
}

/** Redis when REDIS_URI is set, else none (NoCache). */
export async function createCache(config: Config): Promise<Cache> {
  if (!config.redis) return new NoCache();
  const cache = new RedisCache(config.redis, config.cache.keyPrefix);
  await cache.connect();
  return cache;
}

export async function seedFromFile(store: MessageStore, file: string, logger: Logger): Promise<SeedReport> {
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return {
      inserted: 0,
      skipped: 0,
      errors: [{ index: -1, reason: `cannot read ${file}: ${(err as Error).message}` }],
    };
  }
  const report = await seedMessages(store, rows);
  for (const e of report.errors) logger.warn({ file, row: e.index, reason: e.reason }, 'seed row rejected');
  logger.info(
    { file, inserted: report.inserted, skipped: report.skipped, rejected: report.errors.length },
    'seeded',
  );
  return report;
}
