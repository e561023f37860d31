import type Database from 'better-sqlite3';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../key-store.js';
import { scopesOf, scopesText } from '../key-store.js';

interface KeyRow {
  id: string;
  name: string;
  scopes: string;
  hash: string;
  created_at: number;
  last_used_at: number | null;
  revoked_at: number | null;
  expires_at: number | null;
}

const toRecord = (r: KeyRow): ApiKeyRecord => ({
  id: r.id,
  name: r.name,
  scopes: scopesOf(r.scopes),
  hash: r.hash,
  created_at: new Date(r.created_at),
  last_used_at: r.last_used_at === null ? null : new Date(r.last_used_at),
  revoked_at: r.revoked_at === null ? null : new Date(r.revoked_at),
  expires_at: r.expires_at === null ? null : new Date(r.expires_at),
});

/** The api_keys table of the SQLite file (migration 4). */
export class SqliteKeys implements ApiKeyStore {
  constructor(private readonly db: () => Database.Database) {}

  async createKey(key: NewApiKey, now: Date): Promise<ApiKeyRecord> {
    const row: KeyRow = {
      id: key.id,
      name: key.name,
      scopes: scopesText(key.scopes),
      hash: key.hash,
      created_at: now.getTime(),
      last_used_at: null,
      revoked_at: null,
      expires_at: key.expires_at?.getTime() ?? null,
    };
    this.db()
      .prepare(
        `INSERT INTO api_keys (id, name, scopes, hash, created_at, last_used_at, revoked_at, expires_at)
         VALUES (@id, @name, @scopes, @hash, @created_at, @last_used_at, @revoked_at, @expires_at)`,
      )
      .run(row);
    return toRecord(row);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const rows = this.db().prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at, id').all();
    return rows.map(toRecord);
  }

  async revokeKey(id: string, now: Date): Promise<ApiKeyRecord | null> {
    const db = this.db();
    db.prepare('UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL').run(
      now.getTime(),
      id,
    );
    const row = db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?').get(id);
    return row ? toRecord(row) : null;
  }

  async touchKeys(uses: ReadonlyArray<{ id: string; at: Date }>): Promise<void> {
    const db = this.db();
    const stmt = db.prepare(
      'UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)',
    );
    db.transaction(() => {
      for (const u of uses) stmt.run(u.at.getTime(), u.id, u.at.getTime());
    })();
  }
}
