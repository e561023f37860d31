import type { StoreConfig } from '../config/config.js';
import type { MessageStore } from './store.js';
import type { Logger } from '../logging/logger.js';

/**
 * Picks the adapter for the configured store. Adapters are imported lazily so a
 * user of the embedded store never loads the MongoDB or PostgreSQL drivers.
 */
export async function createStore(
  config: StoreConfig,
  poolSize = 10,
  logger?: Logger,
): Promise<MessageStore> {
  switch (config.kind) {
    case 'mongodb': {
      const { MongoStore } = await import('./mongo/mongo-store.js');
      return new MongoStore({
        uri: config.mongodbUri,
        dbName: config.mongoDbName,
        collection: config.mongoCollection,
        ...(logger ? { logger } : {}),
      });
    }
    case 'postgres': {
      const { PostgresStore } = await import('./postgres/postgres-store.js');
      return new PostgresStore({
        connectionString: config.databaseUrl,
        schema: config.databaseSchema,
        poolSize,
      });
    }
    case 'sqlite': {
      const { SqliteStore } = await import('./sqlite/sqlite-store.js');
      return new SqliteStore({ path: config.sqlitePath });
    }
  }
}
