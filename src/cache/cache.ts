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
  constructor(
    private readonly maxEntries = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (this.entries.size >= this.maxEntries) {
      // drop the oldest insertion (Map keeps insertion order)
      const first = this.entries.keys().next();
      if (!first.done) this.entries.delete(first.value);
    }
    this.entries.delete(key);
    this.entries.set(key, { value, expires: this.now() + ttlMs });
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
