import type { OutcomeEvent } from '../worker/events.js';
import type { NodeActivity } from '../store/control-store.js';

/** How many minutes a node reports (the overview's charts). */
export const ACTIVITY_MINUTES = 30;
const MINUTE = 60_000;

/**
 * Lateness buckets: upper bounds in ms, 1 ms × 1.25^k up to an hour, then everything later. A p99
 * read from them is the bound of its bucket: at most 25% above the true value.
 */
const BOUNDS: readonly number[] = (() => {
  const out: number[] = [];
  for (let b = 1; b < 3_600_000; b *= 1.25) out.push(Math.ceil(b));
  out.push(Infinity);
  return [...new Set(out)];
})();

function bucketOf(ms: number): number {
  let lo = 0;
  let hi = BOUNDS.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= (BOUNDS[mid] ?? Infinity)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** A minute's place in the ring (minutes before the epoch too: a test's clock may start at 0). */
const slot = (minute: number): number => ((minute % ACTIVITY_MINUTES) + ACTIVITY_MINUTES) % ACTIVITY_MINUTES;

interface Minute {
  /** minute number (epoch ms / 60,000); -1: unused */
  at: number;
  delivered: number;
  failed: number;
  retried: number;
  lateness: Uint32Array;
  late: number;
}

const blank = (): Minute => ({
  at: -1,
  delivered: 0,
  failed: 0,
  retried: 0,
  lateness: new Uint32Array(BOUNDS.length),
  late: 0,
});

/**
 * This node's deliveries per minute over the last ACTIVITY_MINUTES, fed by the pool's outcome
 * events and written with each heartbeat (NodeActivity): the dashboard shows the cluster's
 * deliveries, failures and lateness from the nodes' rows, with no query over the messages.
 */
export class RecentActivity {
  private readonly ring: Minute[] = Array.from({ length: ACTIVITY_MINUTES }, blank);

  constructor(private readonly now: () => number = Date.now) {}

  private minute(at: number): Minute {
    const m = this.ring[slot(at)] as Minute;
    if (m.at !== at) {
      m.at = at;
      m.delivered = m.failed = m.retried = m.late = 0;
      m.lateness.fill(0);
    }
    return m;
  }

  /** One outcome, stored (one whose lease was lost is another node's to count). */
  record(e: OutcomeEvent): void {
    if (!e.applied) return;
    const m = this.minute(Math.floor(this.now() / MINUTE));
    switch (e.outcome.kind) {
      case 'sent':
        m.delivered++;
        // a first attempt is due at send_at; a retry's back-off is not lateness
        if (e.message.attempts === 0) {
          const late = Math.max(0, e.outcome.sentAt.getTime() - e.message.due_at.getTime());
          const b = bucketOf(late);
          m.lateness[b] = (m.lateness[b] ?? 0) + 1;
          m.late++;
        }
        break;
      case 'retry':
        // a retry without an attempt was held (its destination paused): nothing was tried
        if (e.attempt) m.retried++;
        break;
      default:
        m.failed++;
    }
  }

  /** The last ACTIVITY_MINUTES minutes, the current one last. */
  snapshot(): NodeActivity {
    const current = Math.floor(this.now() / MINUTE);
    const first = current - ACTIVITY_MINUTES + 1;
    const out: NodeActivity = {
      from: first * MINUTE,
      delivered: [],
      failed: [],
      retried: [],
      lateness_p99_ms: [],
    };
    for (let at = first; at <= current; at++) {
      const m = this.ring[slot(at)] as Minute;
      const live = m.at === at;
      out.delivered.push(live ? m.delivered : 0);
      out.failed.push(live ? m.failed : 0);
      out.retried.push(live ? m.retried : 0);
      out.lateness_p99_ms.push(live && m.late > 0 ? p99(m.lateness, m.late) : null);
    }
    return out;
  }
}

/** The upper bound of the bucket holding the 99th percentile (the last finite bound for the rest). */
function p99(counts: Uint32Array, total: number): number {
  const rank = Math.ceil(total * 0.99);
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) return Number.isFinite(BOUNDS[i]) ? (BOUNDS[i] as number) : (BOUNDS[i - 1] as number);
  }
  return BOUNDS[BOUNDS.length - 2] as number;
}
