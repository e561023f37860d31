/**
 * One node's count of a destination's answers over a sliding window, in one-second buckets
 * (at most window/1 s of them, whatever the traffic), and its current run of failures. The
 * breaker's failure ratio and the slow-down's observed rate read it.
 */
/** How a delivery's answer counts: `ok` 2xx; `fail` any other answer or none; `slow` 429 and 503. */
export type Verdict = 'ok' | 'fail' | 'slow';

const BUCKET_MS = 1000;

interface Bucket {
  at: number;
  ok: number;
  fail: number;
  slow: number;
}

export class AttemptWindow {
  private readonly buckets: Bucket[] = [];
  /** failures in a row (a success ends the run; 429 and 503 neither add nor end it) */
  consecutive = 0;

  constructor(private readonly windowMs: number) {}

  add(verdict: Verdict, now: number): void {
    const at = now - (now % BUCKET_MS);
    let b = this.buckets[this.buckets.length - 1];
    if (!b || b.at !== at) {
      b = { at, ok: 0, fail: 0, slow: 0 };
      this.buckets.push(b);
      this.trim(now);
    }
    b[verdict] += 1;
    if (verdict === 'ok') this.consecutive = 0;
    else if (verdict === 'fail') this.consecutive += 1;
  }

  private trim(now: number): void {
    while (this.buckets.length > 0 && (this.buckets[0]?.at ?? now) <= now - this.windowMs)
      this.buckets.shift();
  }

  /** The answers of the window ending now. */
  counts(now: number, windowMs = this.windowMs): { ok: number; fail: number; slow: number } {
    this.trim(now);
    const out = { ok: 0, fail: 0, slow: 0 };
    for (const b of this.buckets) {
      if (b.at <= now - windowMs) continue;
      out.ok += b.ok;
      out.fail += b.fail;
      out.slow += b.slow;
    }
    return out;
  }

  /** Answers per millisecond over the last `ms` (the slow-down's starting point). */
  rate(now: number, ms: number): number {
    const c = this.counts(now, ms);
    return (c.ok + c.fail + c.slow) / ms;
  }

  reset(): void {
    this.buckets.length = 0;
    this.consecutive = 0;
  }
}
