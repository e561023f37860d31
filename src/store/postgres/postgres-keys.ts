import type pg from 'pg';
import type { ApiKeyRecord, ApiKeyStore, NewApiKey } from '../key-store.js';
import { scopesOf, scopesText } from '../key-store.js';

interface KeyRow {
  id: string;
  name: string;
  scopes: string;
  hash: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  expires_at: Date | null;
}

const toRecord = (r: KeyRow): ApiKeyRecord => ({ ...r, scopes: scopesOf(r.scopes) });

/** The api_keys table (migration 4), in the store's schema. */
export class PostgresKeys implements ApiKeyStore {
  constructor(private readonly pool: pg.Pool) {}

  async createKey(key: NewApiKey, now: Date): Promise<ApiKeyRecord> {
    const { rows } = await this.pool.query<KeyRow>(
      `INSERT INTO api_keys (id, name, scopes, hash, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [key.id, key.name, scopesText(key.scopes), key.hash, now, key.expires_at],
    );
    const row = rows[0];
    if (!row) throw new Error('INSERT … RETURNING gave no row');
    return toRecord(row);
  }

  async listKeys(): Promise<ApiKeyRecord[]> {
    const { rows } = await this.pool.query<KeyRow>('SELECT * FROM api_keys ORDER BY created_at, id');
    return rows.map(toRecord);
  }

  async revokeKey(id: string, now: Date): Promise<ApiKeyRecord | null> {
    const { rows } = await this.pool.query<KeyRow>(
      `UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1 RETURNING *`,
      [id, now],
    );
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async touchKeys(uses: ReadonlyArray<{ id: string; at: Date }>): Promise<void> {
    if (uses.length === 0) return;
    await this.pool.query(
      `UPDATE api_keys k SET last_used_at = u.at
         FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at)
        WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.at)`,
      [uses.map((u) => u.id), uses.map((u) => u.at)],
    );
  }
}
