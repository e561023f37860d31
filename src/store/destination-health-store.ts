/**
 * What the cluster knows about each destination's health, as each store keeps it: its circuit
 * breaker (one record per destination that ever failed, changed only by compare-and-set on its
 * revision, so two nodes that decide the same change make it once), and the figures
 * `GET /destinations/{id}` shows, read from the attempts and the due messages (nothing written per
 * delivery). A small interface of its own (`store.health`), in the contract suite of every adapter.
 */
export type CircuitState = 'closed' | 'open' | 'half_open';

/** A circuit's fields besides its key and revision. */
export interface CircuitFields {
  state: CircuitState;
  /** when it opened (kept while half-open; null when closed) */
  opened_at: Date | null;
  /** open: a probe may be sent from then on; half_open: the probe's claim runs out then */
  until: Date | null;
  /** half_open: the node that sends the probe */
  probe_owner: string | null;
  /** the first failure since the last success (null: the last attempt that counts succeeded) */
  failing_since: Date | null;
}

export interface Circuit extends CircuitFields {
  destination_id: string;
  /** 0: never stored (closed, no failure); bumped by each change */
  rev: number;
  updated_at: Date;
}

/** A destination's circuit before anything was stored about it. */
export function closedCircuit(id: string, now: Date): Circuit {
  return {
    destination_id: id,
    state: 'closed',
    opened_at: null,
    until: null,
    probe_owner: null,
    failing_since: null,
    rev: 0,
    updated_at: now,
  };
}

/** A destination's attempts since a time, and its last success and failure ever. */
export interface AttemptStats {
  successes: number;
  failures: number;
  last_success_at: Date | null;
  last_failure_at: Date | null;
}

export interface DestinationHealthStore {
  /** Every stored circuit (a node's copy is read with the destinations). */
  listCircuits(): Promise<Circuit[]>;
  getCircuit(id: string): Promise<Circuit | null>;
  /**
   * Writes `next` when the stored revision is `rev` (0: nothing stored yet). The stored circuit
   * (revision `rev + 1`), or null when another writer changed it first.
   */
  setCircuit(id: string, rev: number, next: CircuitFields, now: Date): Promise<Circuit | null>;
  /** Forgets a circuit (its destination was deleted). */
  deleteCircuit(id: string): Promise<void>;
  /** Attempts of the destination started at or after `since` (sent, and any other outcome), and its last ones. */
  attemptStats(id: string, since: Date): Promise<AttemptStats>;
  /** Its unsent messages due at `now` or earlier (an index range; no table count). */
  dueBacklog(id: string, now: Date): Promise<number>;
  /** Its messages being delivered now, on any node (read from the few in flight, by the lease index). */
  inFlight(id: string): Promise<number>;
}
