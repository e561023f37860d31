import type { Scope } from '../domain/scopes.js';

/**
 * API keys, as each store keeps them: only the SHA-256 of a key is stored, so
 * a copy of the database lets no one in. Every node sharing the store shares
 * the keys; each re-reads them every `auth.keyRefreshInterval`.
 */
export interface ApiKeyRecord {
  /** the public part of the key (`ms_<id>_<secret>`): names it in lists, logs and `DELETE /keys/{id}` */
  id: string;
  name: string;
  scopes: Scope[];
  /** SHA-256 of the whole key, hex */
  hash: string;
  created_at: Date;
  last_used_at: Date | null;
  revoked_at: Date | null;
  /** from then on the key lets no one in (null: it does not expire) */
  expires_at: Date | null;
}

export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'name' | 'scopes' | 'hash' | 'expires_at'>;

export interface ApiKeyStore {
  /** Stores a new key (its id is new: random, 64 bits). */
  createKey(key: NewApiKey, now: Date): Promise<ApiKeyRecord>;
  /** Every key, revoked ones too, oldest first. */
  listKeys(): Promise<ApiKeyRecord[]>;
  /**
   * Marks the key revoked (idempotent: a revoked key keeps its first revoked_at).
   * Null when there is no such key.
   */
  revokeKey(id: string, now: Date): Promise<ApiKeyRecord | null>;
  /** Records when keys were last used (batched by the caller; later times only). */
  touchKeys(uses: ReadonlyArray<{ id: string; at: Date }>): Promise<void>;
}

/** Scopes as the stores keep them: one space-separated string. */
export function scopesText(scopes: readonly Scope[]): string {
  return scopes.join(' ');
}

export function scopesOf(text: string): Scope[] {
  return text.split(' ').filter((s) => s !== '') as Scope[];
}
