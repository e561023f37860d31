/** The delivery cache: `messageId → sent_at` after each send, as the original wrote it. */
export interface Cache {
  readonly kind: 'redis' | 'none';
  set(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/**
 * No delivery cache: Redis is not configured. The original wrote `messageId → sent_at` to Redis for
 * readers outside the service; an in-process copy has no reader (no route reads it), so it was a
 * cost per delivery (a string, an entry, up to 100,000 entries kept alive for the collector) and
 * nothing else. docs/decisions.md, "No in-process delivery cache".
 */
export class NoCache implements Cache {
  readonly kind = 'none' as const;
  async set(): Promise<void> {}
  async get(): Promise<string | null> {
    return null;
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
}
