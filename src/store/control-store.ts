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

export interface NodeInfo {
  id: string;
  /** all, api or worker */
  role: string;
  /** the node's own view of the pool: running, paused, or stale (it cannot heartbeat) */
  state: string;
  in_flight: number;
  version: string;
  started_at: Date;
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
