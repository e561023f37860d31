/** The delivery cache: `messageId → sent_at` after each send, as the original wrote it. */
export interface Cache {
  readonly kind: 'redis' | 'memory';
  set(key: string, value: string, ttlMs: number): Promise<void>;
  get(key: string): Promise<string | null>;
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** In-process TTL cache, used when REDIS_URI is not set. */
export class MemoryCache implements Cache {
  readonly kind = 'memory' as const;
  private readonly entries = new Map<string, { value: string; expires: number }>();
  /**
   * Walks the keys oldest first, kept across calls. A fresh `keys().next()` per
   * eviction skips every entry deleted before it (V8 leaves them in place until
   * the table is rebuilt): once full, that cost about 50 µs per write and was
   * most of the service's CPU beyond 100,000 delivered messages.
   */
  private oldest: MapIterator<string> = this.entries.keys();
  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.entries.delete(key);
    if (this.entries.size >= this.maxEntries) this.evictOldest();
    this.entries.set(key, { value, expires: this.now() + ttlMs });
  }

  /** Drops the oldest insertion (a Map keeps insertion order). */
  private evictOldest(): void {
    let next = this.oldest.next();
    // an iterator that reached the end stays there: start again from the oldest
    if (next.done) {
      this.oldest = this.entries.keys();
      next = this.oldest.next();
    }
    if (!next.done) this.entries.delete(next.value);
  }

  async get(key: string): Promise<string | null> {
    const e = this.entries.get(key);
    if (!e) return null;
    if (e.expires <= this.now()) {
      this.entries.delete(key);
      return null;
    }
    return e.value;
  }

  async ping(): Promise<void> {}
  async close(): Promise<void> {
    this.entries.clear();
  }
}
