import type { Clock } from '../../src/domain/clock.js';

/** Lets promise chains and I/O callbacks that are already due run (a few event-loop passes). */
export async function settle(passes = 20): Promise<void> {
  for (let i = 0; i < passes; i++) await new Promise((r) => setImmediate(r));
}

/**
 * A clock whose time moves only when a test says so: timers fire in order of their time as
 * `advance` passes them, with the event loop let run between two, so a loop that sleeps on this
 * clock runs a minute of its life in a few milliseconds.
 */
export class FakeClock implements Clock {
  private readonly timers = new Map<number, { at: number; fn: () => void }>();
  private seq = 0;

  constructor(private t: number = Date.UTC(2026, 0, 1)) {}

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer due on the way, earliest first. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let next: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.timers)
        if (entry[1].at <= end && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.t = Math.max(this.t, next[1].at);
      next[1].fn();
    }
    this.t = end;
    await settle();
  }
}
