/**
 * A few words pushed between the nodes of one cluster (src/cluster/signals.ts says which and why):
 * the small interface a store that can push implements (PostgreSQL LISTEN/NOTIFY, on the store's
 * own server and schema) and Redis pub/sub implements beside it (src/cluster/redis-transport.ts).
 * Best effort on every side: polling stays the guarantee.
 */
export interface SignalTransport {
  readonly kind: 'postgres' | 'redis';
  /** sends one payload to every subscriber of the cluster, this node included; a failure is dropped */
  send(payload: string): void;
  /**
   * Subscribes: `onPayload` for each payload that arrives, `onLost` once when the subscription
   * drops (the caller subscribes again later). Rejects when it cannot subscribe now.
   */
  subscribe(onPayload: (payload: string) => void, onLost: (err?: unknown) => void): Promise<void>;
  close(): Promise<void>;
}

/** A store whose own server carries signals (PostgreSQL); the others leave it out. */
export interface SignalingStore {
  /** a new transport on the store's server, scoped to its cluster (one per node) */
  signalTransport(): SignalTransport;
}

export function canSignal(store: object): store is SignalingStore {
  return typeof (store as Partial<SignalingStore>).signalTransport === 'function';
}
