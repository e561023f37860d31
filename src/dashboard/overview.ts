import type { MessageStatus } from '../domain/message.js';
import type { NodeActivity, NodeRecord } from '../store/control-store.js';
import type { MessageStore } from '../store/store.js';
import { ACTIVITY_MINUTES } from '../metrics/recent-activity.js';

/** Each status is counted to this many (and one more, meaning "more"): a bounded cost per request. */
export const BACKLOG_COUNT_CAP = 10_000;
const MINUTE = 60_000;

/** The cluster's deliveries per minute: the sum of the live nodes' (lateness: the worst node's). */
export interface ClusterActivity {
  /** the start of the first minute */
  from: Date;
  delivered: number[];
  failed: number[];
  retried: number[];
  /** per minute, the highest of the nodes' p99 bounds (ms; null: nothing sent on time that minute) */
  lateness_p99_ms: (number | null)[];
  /** how many live nodes report their deliveries */
  nodes_reporting: number;
}

export interface OverviewView {
  at: Date;
  /** per status, counted to BACKLOG_COUNT_CAP + 1 at most */
  counts: Record<MessageStatus, number>;
  count_cap: number;
  oldest_due_at: Date | null;
  /** how long the oldest due unsent message has waited (0: none is due) */
  oldest_due_age_seconds: number;
  activity: ClusterActivity;
}

/** Adds up the nodes' minutes, aligned on the minute of `now` (a node's row is a heartbeat old). */
export function clusterActivity(nodes: readonly NodeRecord[], now: number): ClusterActivity {
  const current = Math.floor(now / MINUTE);
  const first = current - ACTIVITY_MINUTES + 1;
  const zeros = (): number[] => new Array<number>(ACTIVITY_MINUTES).fill(0);
  const out: ClusterActivity = {
    from: new Date(first * MINUTE),
    delivered: zeros(),
    failed: zeros(),
    retried: zeros(),
    lateness_p99_ms: new Array<number | null>(ACTIVITY_MINUTES).fill(null),
    nodes_reporting: 0,
  };
  for (const n of nodes) {
    const a: NodeActivity | null | undefined = n.activity;
    if (!a) continue;
    out.nodes_reporting++;
    const offset = Math.round(a.from / MINUTE) - first;
    for (let i = 0; i < a.delivered.length; i++) {
      const j = i + offset;
      if (j < 0 || j >= ACTIVITY_MINUTES) continue;
      out.delivered[j] = (out.delivered[j] ?? 0) + (a.delivered[i] ?? 0);
      out.failed[j] = (out.failed[j] ?? 0) + (a.failed[i] ?? 0);
      out.retried[j] = (out.retried[j] ?? 0) + (a.retried[i] ?? 0);
      const late = a.lateness_p99_ms[i];
      if (typeof late === 'number') out.lateness_p99_ms[j] = Math.max(out.lateness_p99_ms[j] ?? 0, late);
    }
  }
  return out;
}

/**
 * What the dashboard's first screen shows, read at a bounded cost whatever the store holds: each
 * status counted to a cap from its own index, the oldest due message from the due index, and the
 * deliveries per minute from the live nodes' heartbeats (no query over the messages for those).
 */
export class Overview {
  constructor(
    private readonly o: {
      store: Pick<MessageStore, 'countByStatus' | 'nextDueAt'>;
      liveNodes: () => Promise<NodeRecord[]>;
      now?: () => number;
    },
  ) {}

  async read(): Promise<OverviewView> {
    const now = this.o.now?.() ?? Date.now();
    const [counts, due, nodes] = await Promise.all([
      this.o.store.countByStatus(BACKLOG_COUNT_CAP),
      this.o.store.nextDueAt(),
      this.o.liveNodes(),
    ]);
    return {
      at: new Date(now),
      counts,
      count_cap: BACKLOG_COUNT_CAP,
      oldest_due_at: due,
      oldest_due_age_seconds: due ? Math.max(0, (now - due.getTime()) / 1000) : 0,
      activity: clusterActivity(nodes, now),
    };
  }
}
