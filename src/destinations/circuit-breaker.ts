/**
 * Each destination's circuit breaker, shared by the cluster (docs/decisions.md, "Failure handling
 * per destination"). A node counts the answers it sees (an AttemptWindow per destination); when
 * the failure ratio over the window (with a minimum count) or a run of consecutive failures trips,
 * it opens the circuit in the store by compare-and-set on the circuit's revision, so however many
 * nodes decide it at once it opens once, and the node whose write won tells the others and raises
 * the event. While open the destination has no lane (flow-control.ts): its messages are not
 * claimed and keep their attempts. After `openFor` one node takes the probe (half-open, again by
 * compare-and-set) and sends one message: a success closes the circuit, a failure opens it again.
 * A destination failing without a success for `disableAfter` is disabled, with the reason.
 * `default` has no breaker: it behaves as the original service's one webhook did.
 */
import type { BreakerSettings } from '../config/types.js';
import type { Logger } from '../logging/logger.js';
import type { DestinationStore } from '../store/destination-store.js';
import {
  closedCircuit,
  type Circuit,
  type CircuitFields,
  type DestinationHealthStore,
} from '../store/destination-health-store.js';
import type { Destination } from '../domain/destination.js';
import { AttemptWindow, type Verdict } from './attempt-window.js';

export type { Verdict } from './attempt-window.js';

/** What a lane may do now, by its circuit. */
export type Admission =
  | { kind: 'closed' }
  /** half-open, and this node holds the probe: one message */
  | { kind: 'probe' }
  /** open, or another node probes: no lane before `until` */
  | { kind: 'wait'; until: number };

export type BreakerEvent =
  | { type: 'destination.circuit_opened'; destination: string; at: Date; reason: string }
  | { type: 'destination.circuit_closed'; destination: string; at: Date; open_ms: number }
  | { type: 'destination.disabled'; destination: string; at: Date; reason: string };

export interface BreakerOptions {
  store: DestinationHealthStore;
  destinations: Pick<DestinationStore, 'setDestinationStatus'>;
  settings: BreakerSettings;
  /** 0: never */
  disableAfterMs: number;
  /** this node, named as the probe's owner */
  owner: string;
  now: () => number;
  logger: Logger;
  /** a circuit changed here: the other nodes read theirs again (the app's 'destinations' signal) */
  onCircuitChange: (id: string) => void;
  /** a destination was disabled here */
  onDisabled: (d: Destination) => void;
  /** an event of the breaker, raised once across the cluster: by the node whose write won */
  onEvent?: (e: BreakerEvent) => void;
}

const CLOSED: CircuitFields = {
  state: 'closed',
  opened_at: null,
  until: null,
  probe_owner: null,
  failing_since: null,
};

export class CircuitBreakers {
  /** the cluster's circuits as last read (a destination not here is closed, never failed) */
  private circuits = new Map<string, Circuit>();
  /** this node's counts of each destination's answers */
  private readonly windows = new Map<string, AttemptWindow>();
  /** a change being written per destination: one at a time */
  private readonly writing = new Set<string>();
  /** the writes not finished yet (idle()) */
  private readonly inFlight = new Set<Promise<boolean>>();
  /** answers heard while a change was being written: decided again once it is stored */
  private readonly pending = new Map<
    string,
    { d: Destination; verdict: 'ok' | 'fail'; error: string | null }
  >();

  constructor(private readonly o: BreakerOptions) {}

  /** Reads every circuit (start, refresh, a change elsewhere). */
  async load(): Promise<void> {
    const all = await this.o.store.listCircuits();
    this.circuits = new Map(all.map((c) => [c.destination_id, c]));
  }

  /** The destinations whose circuit is open, and half-open, as this node last read them (metrics). */
  countByState(): { open: number; half_open: number } {
    const n = { open: 0, half_open: 0 };
    for (const c of this.circuits.values()) if (c.state !== 'closed') n[c.state]++;
    return n;
  }

  window(id: string): AttemptWindow {
    let w = this.windows.get(id);
    if (!w) {
      w = new AttemptWindow(this.o.settings.windowMs);
      this.windows.set(id, w);
    }
    return w;
  }

  /** Whether destination `id` may have a lane now: closed, the probe, or wait. */
  async admit(id: string, now: number): Promise<Admission> {
    const c = this.circuits.get(id);
    if (!c || c.state === 'closed') return { kind: 'closed' };
    // a change being written (the probe's outcome): decided again when it is stored
    if (this.writing.has(id)) return { kind: 'wait', until: now + 50 };
    const until = c.until?.getTime() ?? 0;
    if (c.state === 'half_open' && c.probe_owner === this.o.owner && until > now) return { kind: 'probe' };
    if (until > now) return { kind: 'wait', until };
    // open for long enough, or a probe that ran out (its node died, or nothing was due): take the probe
    const taken = await this.write(c, {
      ...c,
      state: 'half_open',
      probe_owner: this.o.owner,
      until: new Date(now + this.o.settings.openForMs),
    });
    if (taken) {
      this.o.logger.info({ destination: id }, 'circuit half-open: this node sends a probe');
      return { kind: 'probe' };
    }
    return { kind: 'wait', until: now + Math.min(1000, this.o.settings.openForMs) };
  }

  /** True while the circuit keeps this node from sending a message of `id` (open, or probed elsewhere). */
  blocks(id: string, now: number): boolean {
    const c = this.circuits.get(id);
    if (!c || c.state === 'closed') return false;
    if (c.state === 'half_open') return c.probe_owner !== this.o.owner && (c.until?.getTime() ?? 0) > now;
    return true;
  }

  /** An answer of destination `d` (a verdict of this node's attempt); `error` names a failure. */
  observe(d: Destination, verdict: Verdict, now: number, error: string | null): void {
    const w = this.window(d.id);
    w.add(verdict, now);
    if (verdict === 'slow') return;
    if (this.writing.has(d.id)) {
      this.pending.set(d.id, { d, verdict, error });
      return;
    }
    this.decide(d, verdict, now, error);
  }

  /** What the latest answer and the window's counts call for: at most one write. */
  private decide(d: Destination, verdict: 'ok' | 'fail', now: number, error: string | null): void {
    const stored = this.circuits.get(d.id);
    // the common case, a success of a destination that never failed: nothing to decide, nothing made
    if (verdict === 'ok' && (!stored || (stored.state === 'closed' && !stored.failing_since))) return;
    const w = this.window(d.id);
    const c = stored ?? closedCircuit(d.id, new Date(now));
    if (verdict === 'ok') {
      if (c.state === 'half_open' && c.probe_owner === this.o.owner) void this.close(c, now);
      else if (c.state === 'closed' && c.failing_since) void this.write(c, { ...c, failing_since: null });
      return;
    }
    const since = c.failing_since?.getTime() ?? now;
    const disableAfter = this.o.disableAfterMs;
    if (disableAfter > 0 && now - since >= disableAfter) {
      void this.disable(d, c, since, now, error);
      return;
    }
    if (c.state === 'half_open' && c.probe_owner === this.o.owner) {
      void this.reopen(c, now, error);
      return;
    }
    if (c.state !== 'closed') return;
    const s = this.o.settings;
    const counts = w.counts(now);
    const total = counts.ok + counts.fail;
    const byRatio = total >= s.minRequests && counts.fail / total >= s.failureRatio;
    const byRun = s.consecutiveFailures > 0 && w.consecutive >= s.consecutiveFailures;
    if (byRatio || byRun) {
      const reason = byRun
        ? `${w.consecutive} failures in a row; last: ${error ?? 'failed'}`
        : `${counts.fail} of ${total} attempts failed in ${s.windowMs} ms; last: ${error ?? 'failed'}`;
      void this.open(c, now, since, reason);
    } else if (!c.failing_since) {
      void this.write(c, { ...c, failing_since: new Date(now) });
    }
  }

  private async open(c: Circuit, now: number, since: number, reason: string): Promise<void> {
    const done = await this.write(c, {
      state: 'open',
      opened_at: new Date(now),
      until: new Date(now + this.o.settings.openForMs),
      probe_owner: null,
      failing_since: new Date(since),
    });
    if (!done) return;
    this.o.logger.warn({ destination: c.destination_id, reason }, 'circuit opened');
    this.o.onEvent?.({
      type: 'destination.circuit_opened',
      destination: c.destination_id,
      at: new Date(now),
      reason,
    });
  }

  private async reopen(c: Circuit, now: number, error: string | null): Promise<void> {
    const done = await this.write(c, {
      ...c,
      state: 'open',
      until: new Date(now + this.o.settings.openForMs),
      probe_owner: null,
    });
    if (done)
      this.o.logger.info({ destination: c.destination_id, error }, 'circuit probe failed: open again');
  }

  private async close(c: Circuit, now: number): Promise<void> {
    const done = await this.write(c, CLOSED);
    if (!done) return;
    const openMs = now - (c.opened_at?.getTime() ?? now);
    this.window(c.destination_id).reset();
    this.o.logger.info(
      { destination: c.destination_id, open_ms: openMs },
      'circuit closed: the probe succeeded',
    );
    this.o.onEvent?.({
      type: 'destination.circuit_closed',
      destination: c.destination_id,
      at: new Date(now),
      open_ms: openMs,
    });
  }

  /** Failing for disableAfter: the circuit is reset (resume starts afresh) and the destination disabled. */
  private async disable(
    d: Destination,
    c: Circuit,
    since: number,
    now: number,
    error: string | null,
  ): Promise<void> {
    const done = await this.write(c, CLOSED);
    if (!done) return;
    this.window(d.id).reset();
    const reason = `failing without a success since ${new Date(since).toISOString()} (destinations.disableAfter); last error: ${error ?? 'failed'}`;
    const stored = await this.o.destinations
      .setDestinationStatus(d.id, 'disabled', reason, new Date(now))
      .catch((err: unknown) => {
        this.o.logger.error({ err, destination: d.id }, 'could not disable the destination');
        return null;
      });
    if (!stored) return;
    this.o.logger.warn({ destination: d.id, reason }, 'destination disabled');
    this.o.onDisabled(stored);
    this.o.onEvent?.({ type: 'destination.disabled', destination: d.id, at: new Date(now), reason });
  }

  /** Resolves when no change is being written (and none decided after one is left): tests, shutdown. */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  /** Compare-and-set from `c`'s revision; true when this write won. Another writer's circuit is read again. */
  private write(c: Circuit, next: CircuitFields): Promise<boolean> {
    if (this.writing.has(c.destination_id)) return Promise.resolve(false);
    const p = this.cas(c, next);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  private async cas(c: Circuit, next: CircuitFields): Promise<boolean> {
    const id = c.destination_id;
    this.writing.add(id);
    try {
      const fields: CircuitFields = {
        state: next.state,
        opened_at: next.opened_at,
        until: next.until,
        probe_owner: next.probe_owner,
        failing_since: next.failing_since,
      };
      const stored = await this.o.store.setCircuit(id, c.rev, fields, new Date(this.o.now()));
      if (stored) {
        this.circuits.set(id, stored);
        this.o.onCircuitChange(id);
        return true;
      }
      const now = await this.o.store.getCircuit(id);
      if (now) this.circuits.set(id, now);
      return false;
    } catch (err) {
      this.o.logger.warn(
        { err, destination: id },
        'could not write the circuit; deciding again at the next answer',
      );
      return false;
    } finally {
      this.writing.delete(id);
      const next = this.pending.get(id);
      if (next) {
        this.pending.delete(id);
        this.decide(next.d, next.verdict, this.o.now(), next.error);
      }
    }
  }

  /** A destination was deleted: its counts go (its circuit row is deleted with it). */
  forget(id: string): void {
    this.windows.delete(id);
    this.circuits.delete(id);
  }
}
