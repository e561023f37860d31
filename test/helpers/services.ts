import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MessageStore } from '../../src/store/store.js';

/**
 * Integration tests read MONGODB_URI, DATABASE_URL and REDIS_URI. A missing one
 * skips its tests with a loud message, except under CI=true or
 * REQUIRE_SERVICES=1, where it fails the run: a service test never skips in CI.
 */
export function serviceUrl(name: 'MONGODB_URI' | 'DATABASE_URL' | 'REDIS_URI'): string | null {
  const value = process.env[name];
  if (value) return value;
  if (process.env.CI === 'true' || process.env.REQUIRE_SERVICES === '1') {
    throw new Error(
      `${name} is not set but CI/REQUIRE_SERVICES requires it: run scripts/services.sh up and export its env`,
    );
  }
  process.stderr.write(
    `\n!!! ${name} is not set: skipping its tests (run: eval "$(scripts/services.sh env)")\n\n`,
  );
  return null;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

export interface StoreFactory {
  name: 'sqlite' | 'postgres' | 'mongodb';
  /** false when the service is not configured (and not required): its tests skip loudly */
  available: boolean;
  create(): Promise<{ store: MessageStore; drop(): Promise<void> }>;
  /** a store aimed at a database that is not there (a closed port, a path under a file); not initialized */
  unreachable(): Promise<MessageStore>;
}

export function sqliteFactory(): StoreFactory {
  return {
    name: 'sqlite',
    available: true,
    async create() {
      const { SqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
      const dir = mkdtempSync(join(tmpdir(), 'ms-test-'));
      const store = new SqliteStore({ path: join(dir, 'messages.db') });
      await store.init();
      return {
        store,
        async drop() {
          await store.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    async unreachable() {
      const { SqliteStore } = await import('../../src/store/sqlite/sqlite-store.js');
      // a directory that cannot exist: its parent is a file
      return new SqliteStore({ path: join(fileURLToPath(import.meta.url), 'data', 'messages.db') });
    },
  };
}

export function postgresFactory(): StoreFactory {
  const url = serviceUrl('DATABASE_URL');
  return {
    name: 'postgres',
    available: url !== null,
    async create() {
      const { PostgresStore } = await import('../../src/store/postgres/postgres-store.js');
      const store = new PostgresStore({ connectionString: url ?? '', schema: uniqueName('t'), poolSize: 12 });
      await store.init();
      return {
        store,
        async drop() {
          await store.dropSchema();
          await store.close();
        },
      };
    },
    async unreachable() {
      const { PostgresStore } = await import('../../src/store/postgres/postgres-store.js');
      return new PostgresStore({ connectionString: 'postgres://nobody@127.0.0.1:1/none', poolSize: 1 });
    },
  };
}

export function mongoFactory(): StoreFactory {
  const url = serviceUrl('MONGODB_URI');
  return {
    name: 'mongodb',
    available: url !== null,
    async create() {
      const { MongoStore } = await import('../../src/store/mongo/mongo-store.js');
      const store = new MongoStore({ uri: url ?? '', dbName: uniqueName('t'), collection: 'messages' });
      await store.init();
      return {
        store,
        async drop() {
          await store.dropDatabase();
          await store.close();
        },
      };
    },
    async unreachable() {
      const { MongoStore } = await import('../../src/store/mongo/mongo-store.js');
      return new MongoStore({ uri: 'mongodb://127.0.0.1:1/', dbName: 'none', collection: 'messages' });
    },
  };
}
