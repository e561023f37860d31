/**
 * What nodes sharing a store share besides messages: the pool state the
 * operators set (one for the cluster) and each node's heartbeat. A small
 * interface of its own (`store.control`), implemented by every adapter and
 * covered by its own contract suite.
 */
export type SharedPoolState = 'running' | 'paused';

export interface StoredPoolState {
  state: SharedPoolState;
  updated_at: Date;
  /** who set it: the actor of the request, or the node */
  updated_by: string;
}

/**
 * What a delivering node did in each of its last minutes, written with its heartbeat (the
 * dashboard's overview adds up the live nodes'). Oldest minute first; every array as long.
 */
export interface NodeActivity {
  /** the start of the first minute (epoch milliseconds, a whole minute) */
  from: number;
  /** messages sent (2xx) */
  delivered: number[];
  /** messages that failed for good: retries used up, refused content, or an unknown outcome */
  failed: number[];
  /** attempts that failed and will be tried again */
  retried: number[];
  /** an upper bound of the p99 lateness of the first attempts sent that minute, ms (null: none) */
  lateness_p99_ms: (number | null)[];
}

export interface NodeInfo {
  id: string;
  /** all, api or worker */
  role: string;
  /** the node's own view of the pool: running, paused, or stale (it cannot heartbeat) */
  state: string;
  in_flight: number;
  version: string;
  started_at: Date;
  /** its recent deliveries (null: it delivers nothing, or an older version wrote the row) */
  activity?: NodeActivity | null | undefined;
}

export interface NodeRecord extends NodeInfo {
  last_seen: Date;
}

export interface ControlStore {
  /** The cluster's pool state, or null when none was ever set (pool.initialJobFetch applies then). */
  getPoolState(): Promise<StoredPoolState | null>;
  setPoolState(state: SharedPoolState, by: string, now: Date): Promise<StoredPoolState>;
  /** Inserts or updates the node's row, with last_seen = now. */
  heartbeat(node: NodeInfo, now: Date): Promise<void>;
  /** Every node row, live or not, by id. */
  listNodes(): Promise<NodeRecord[]>;
  removeNodes(ids: readonly string[]): Promise<void>;
}

/** A node's activity as the SQL adapters store it (a JSON text column). */
export function activityText(a: NodeActivity | null | undefined): string | null {
  return a ? JSON.stringify(a) : null;
}

/** A stored activity, or null when there is none or it is not one (a row is never a reason to fail). */
export function parseActivity(text: string | null | undefined): NodeActivity | null {
  if (!text) return null;
  try {
    const a = JSON.parse(text) as Partial<NodeActivity>;
    const arrays = [a.delivered, a.failed, a.retried, a.lateness_p99_ms];
    if (typeof a.from !== 'number' || !arrays.every(Array.isArray)) return null;
    return a as NodeActivity;
  } catch {
    return null;
  }
}
