import type { Destination, DestinationSpec, DestinationStatus } from '../domain/destination.js';

/**
 * Destinations, as each store keeps them (a table, or a collection): a small interface of its own
 * (`store.destinations`), implemented by every adapter and covered by its own contract suite
 * (test/contract/destination-store-contract.ts). Every node sharing the store shares them.
 */
export interface DestinationStore {
  /** Stores a new destination, active, version 1; a StoreError `conflict` when the id is taken. */
  createDestination(id: string, spec: DestinationSpec, now: Date): Promise<Destination>;
  getDestination(id: string): Promise<Destination | null>;
  /** By id, after `after` (a page's last id), at most `limit`; only those subscribed to `topic` when given. */
  listDestinations(q: { after?: string; limit: number; topic?: string }): Promise<Destination[]>;
  /**
   * Replaces the spec's fields given in `patch`; with `ifVersion`, only when the stored version is
   * that one. Null when there is no such destination, or its version is another (`ifVersion`).
   */
  updateDestination(
    id: string,
    patch: Partial<DestinationSpec>,
    now: Date,
    ifVersion?: number,
  ): Promise<Destination | null>;
  /** Sets the status (a reason and time when disabled, cleared otherwise). Null: no such destination. */
  setDestinationStatus(
    id: string,
    status: DestinationStatus,
    reason: string | null,
    now: Date,
  ): Promise<Destination | null>;
  /** True when it was there. */
  deleteDestination(id: string): Promise<boolean>;
}

/** The spec's fields, in the order the stores write them. */
export const SPEC_FIELDS = [
  'url',
  'description',
  'headers',
  'secrets',
  'timeout_ms',
  'rate_limit',
  'max_in_flight',
  'retry',
  'topics',
  'metadata',
] as const satisfies readonly (keyof DestinationSpec)[];

/** The spec's fields of a destination (or of a stored document holding them). */
export function specFields(d: DestinationSpec): DestinationSpec {
  return Object.fromEntries(SPEC_FIELDS.map((k) => [k, d[k]])) as unknown as DestinationSpec;
}

/** A spec as JSON text (SQL stores keep the spec in one column), secrets' expiries as ISO strings. */
export function specJson(spec: DestinationSpec): string {
  return JSON.stringify(spec);
}

/** The spec back from its JSON text. */
export function specOf(json: string): DestinationSpec {
  const raw = JSON.parse(json) as DestinationSpec & {
    secrets: { secret: string; expires_at: string | null }[];
  };
  return {
    ...raw,
    secrets: raw.secrets.map((s) => ({
      secret: s.secret,
      expires_at: s.expires_at === null ? null : new Date(s.expires_at),
    })),
  };
}

/** `spec` with `patch`'s fields in place (undefined fields left as they were). */
export function patched(spec: DestinationSpec, patch: Partial<DestinationSpec>): DestinationSpec {
  const out: DestinationSpec = { ...spec };
  for (const k of SPEC_FIELDS) {
    const v = patch[k];
    if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  }
  return out;
}
