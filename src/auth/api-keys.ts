import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ConfiguredKey } from '../config/auth-config.js';
import type { Logger } from '../logging/logger.js';
import type { ApiKeyRecord, ApiKeyStore } from '../store/key-store.js';
import type { Principal, Scope } from '../domain/scopes.js';

/**
 * API keys: `ms_<id>_<secret>`: `ms_` so logs and secret scanners recognise
 * one, a 12-hex-digit public id (lists, logs, revocation) and 256 random bits.
 * A key of 256 random bits needs no slow hash: SHA-256 is what is stored, and
 * a lookup compares hashes in constant time.
 */
export const KEY_PATTERN = /^ms_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export function generateKey(): { id: string; key: string } {
  const id = randomBytes(6).toString('hex');
  return { id, key: `ms_${id}_${randomBytes(32).toString('base64url')}` };
}

export function hashKey(key: string): Buffer {
  return createHash('sha256').update(key).digest();
}

/** The `auth.apiKeys` item for a key: `NAME;SCOPES;sha256:HEX`. */
export function configItem(name: string, scopes: readonly Scope[], key: string): string {
  return `${name};${scopes.join(',')};sha256:${hashKey(key).toString('hex')}`;
}

interface Active {
  record: ApiKeyRecord;
  hash: Buffer;
  principal: Principal;
  /** epoch ms from which the key lets no one in (Infinity: never) */
  expiresAt: number;
}

const principalOf = (kind: 'api_key', name: string, scopes: readonly Scope[], id: string): Principal => ({
  kind,
  name,
  scopes: new Set(scopes),
  bucket: `key:${id}`,
  keyId: id,
});

/**
 * The keys this node accepts: the store's (re-read every `refreshMs`, so a key
 * created or revoked on any node holds here within that time) and the
 * config's. Lookups are synchronous and touch no database; when a key was last
 * used is written back in one batch per refresh.
 */
export class KeyRegistry {
  private active = new Map<string, Active>();
  private readonly configured: Array<{ hash: Buffer; principal: Principal }>;
  private used = new Map<string, Date>();
  private timer: NodeJS.Timeout | null = null;
  private failing = false;
  private refreshing: Promise<void> | null = null;
  /** a key has existed (in the store, revoked or not, or in the config): never false again */
  private existed: boolean;

  constructor(
    private readonly store: ApiKeyStore,
    configured: readonly ConfiguredKey[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {
    this.existed = configured.length > 0;
    this.configured = configured.map((k, i) => ({
      hash: k.hash,
      principal: principalOf('api_key', k.name, k.scopes, `config${i + 1}`),
    }));
  }

  /** Reads the keys once (a failure stops start-up), then every refreshMs. */
  async start(): Promise<void> {
    await this.load();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.refreshing;
    await this.flushUses().catch(() => undefined);
  }

  /** Keys that can let someone in: the store's unrevoked ones and the config's. */
  count(): number {
    return this.active.size + this.configured.length;
  }

  /**
   * Whether any key has ever existed: one in the store (revoked ones count) or in the config.
   * Protected mode ends for good once one has (docs/decisions.md, "Revoking every key"):
   * revoking them all must not make every local process an anonymous admin again.
   */
  everExisted(): boolean {
    return this.existed;
  }

  /** The principal of a presented key, or null (unknown, malformed or revoked). */
  lookup(presented: string, now = new Date()): Principal | null {
    const hash = hashKey(presented);
    const m = KEY_PATTERN.exec(presented);
    if (m?.[1]) {
      const a = this.active.get(m[1]);
      if (a && timingSafeEqual(a.hash, hash) && now.getTime() < a.expiresAt) {
        this.used.set(a.record.id, now);
        return a.principal;
      }
    }
    // configured keys carry no id: every one is compared, with no early exit
    let found: Principal | null = null;
    for (const c of this.configured) if (timingSafeEqual(c.hash, hash)) found = c.principal;
    return found;
  }

  /** Re-reads the store now (after a create or revoke on this node). */
  refresh(): Promise<void> {
    this.refreshing ??= this.load()
      .then(() => this.flushUses())
      .then(
        () => {
          if (this.failing) this.logger.info('API keys are read from the store again');
          this.failing = false;
        },
        (err: unknown) => {
          // the last keys read stay in force: a store outage neither locks everyone out nor
          // brings back a revoked key
          if (!this.failing) {
            this.logger.warn({ err }, 'cannot re-read the API keys; the last ones read stay in force');
          }
          this.failing = true;
        },
      )
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  private async load(): Promise<void> {
    const records = await this.store.listKeys();
    if (records.length > 0) this.existed = true;
    const next = new Map<string, Active>();
    for (const r of records) {
      if (r.revoked_at !== null) continue;
      next.set(r.id, {
        record: r,
        hash: Buffer.from(r.hash, 'hex'),
        principal: principalOf('api_key', r.name, r.scopes, r.id),
        expiresAt: r.expires_at?.getTime() ?? Infinity,
      });
    }
    this.active = next;
  }

  private async flushUses(): Promise<void> {
    if (this.used.size === 0) return;
    const uses = [...this.used].map(([id, at]) => ({ id, at }));
    this.used = new Map();
    await this.store.touchKeys(uses);
  }
}
