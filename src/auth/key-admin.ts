import type { ApiKeyRecord, ApiKeyStore } from '../store/key-store.js';
import { KEY_NAME } from '../config/auth-config.js';
import { generateKey, hashKey } from './api-keys.js';
import { isScope, SCOPE_NAMES, type Scope } from '../domain/scopes.js';

/** A request to make a key that cannot be made; the message names the problem. */
export class KeyRequestError extends Error {
  override name = 'KeyRequestError';
}

export function checkKeyRequest(name: string, scopes: readonly string[]): Scope[] {
  if (!KEY_NAME.test(name)) {
    throw new KeyRequestError(
      `name ${JSON.stringify(name)} is invalid: expected letters, digits, ".", "_" or "-" (1 to 64, starting with a letter or digit)`,
    );
  }
  if (scopes.length === 0)
    throw new KeyRequestError(`at least one scope is needed: ${SCOPE_NAMES.join(', ')}`);
  const bad = scopes.find((s) => !isScope(s));
  if (bad !== undefined) {
    throw new KeyRequestError(`scope ${JSON.stringify(bad)} is unknown: expected ${SCOPE_NAMES.join(', ')}`);
  }
  return [...new Set(scopes)] as Scope[];
}

/**
 * Makes a key and stores its hash; the key itself is returned once and kept nowhere. `expiresAt`:
 * when it stops letting anyone in (null: never; the API gives keys made over HTTP one, see
 * keyExpiry).
 */
export async function createApiKey(
  store: ApiKeyStore,
  name: string,
  scopes: readonly string[],
  now = new Date(),
  expiresAt: Date | null = null,
): Promise<{ key: string; record: ApiKeyRecord }> {
  const checked = checkKeyRequest(name, scopes);
  const { id, key } = generateKey();
  const record = await store.createKey(
    { id, name, scopes: checked, hash: hashKey(key).toString('hex'), expires_at: expiresAt },
    now,
  );
  return { key, record };
}

/**
 * When a key made over HTTP expires (docs/decisions.md, "API keys made over HTTP expire"): the
 * time asked for, which must be in the future and within `maxLifetimeMs` (auth.apiKeyMaxLifetime)
 * of now, or now + maxLifetimeMs when none is asked for. A short-lived OAuth2 token with the admin
 * scope could otherwise mint a credential that outlives it for ever. `maxLifetimeMs` 0: no bound,
 * and no expiry unless asked for.
 */
export function keyExpiry(asked: string | undefined, maxLifetimeMs: number, now: Date): Date | null {
  const latest = maxLifetimeMs > 0 ? new Date(now.getTime() + maxLifetimeMs) : null;
  if (asked === undefined) return latest;
  const at = new Date(asked);
  if (Number.isNaN(at.getTime()))
    throw new KeyRequestError(`expires_at ${JSON.stringify(asked)} is not a valid time`);
  if (at.getTime() <= now.getTime()) throw new KeyRequestError('expires_at must be in the future');
  if (latest && at.getTime() > latest.getTime()) {
    throw new KeyRequestError(
      `expires_at is later than auth.apiKeyMaxLifetime allows (at most ${latest.toISOString()})`,
    );
  }
  return at;
}

/** A key as lists show it: never the hash. */
export function keyJson(r: ApiKeyRecord) {
  return {
    id: r.id,
    name: r.name,
    scopes: r.scopes,
    created_at: r.created_at.toISOString(),
    last_used_at: r.last_used_at?.toISOString() ?? null,
    revoked_at: r.revoked_at?.toISOString() ?? null,
    expires_at: r.expires_at?.toISOString() ?? null,
  };
}
