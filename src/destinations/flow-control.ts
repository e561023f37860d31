/**
 * Which destinations a claim round takes messages of, and how many of each (docs/decisions.md,
 * "Flow control per destination"). Each round the worker pool has `tokens` (its free room, within
 * the global delivery limit); they are shared among lanes: `default` and every active destination,
 * round-robin from where the last round stopped. A destination's lane is bounded by its own bucket
 * (`rate_limit`) and its free slots in flight (`max_in_flight`), both cluster-wide (lane-limits.ts).
 * A destination at its limit, or whose lane came back short (nothing more due), is skipped until
 * its next token, its next due message, a wake-up or `maxDryMs`, so its rows are not read at all:
 * a held or slow destination never costs the others a claim.
 */
import { DEFAULT_DESTINATION_ID, type Destination } from '../domain/destination.js';
import type { ClaimedMessage, ClaimLane, MessageStore } from '../store/store.js';
import { laneRate, type LaneLimits, type LaneRate } from './lane-limits.js';
import type { DestinationRegistry } from './registry.js';
import type { CircuitBreakers, Verdict } from './circuit-breaker.js';
import { SlowDown } from './slow-down.js';

/** A lane gets at least this many of a round's tokens, so a round serves few lanes well, not many badly. */
export const LANE_MIN = 4;
/**
 * The lanes of a round ask for this many times its tokens together; the claim stops at the tokens
 * (ClaimRequest.total). A lane with fewer due than it asked leaves its part to the lanes after it
 * in the same round instead of to the next round.
 */
export const OVERBOOK = 2;

export interface FlowOptions {
  registry: DestinationRegistry;
  limits: LaneLimits;
  store: Pick<MessageStore, 'nextDueOf'>;
  /** a lane that came back short is read again after this long at most (worker.workerJobInterval) */
  maxDryMs: number;
  now: () => number;
  /** each destination's circuit (none: no breaker, as in unit tests of the lanes alone) */
  breakers?: CircuitBreakers;
}

/** how far back the rate a destination was sent at is read when it first asks to slow down */
const SENDING_RATE_MS = 5000;

interface Reserved {
  id: string;
  rate: LaneRate | null;
  /** slots in flight held for this lane */
  slots: number;
  /** the lane of a half-open circuit's probe: one message */
  probe: boolean;
}

/** A round's claim: `default`'s limit and the destinations' lanes (none: wait wakeIn()). */
export interface RoundPlan {
  limit: number;
  lanes: ClaimLane[];
  /** at most this many in all: the round's tokens */
  total: number;
  /** what each lane holds of its destination's limits, given back in settle() */
  readonly reserved: readonly Reserved[];
  /** every lane that may claim now had its turn in this round (else lanes are left for the next) */
  readonly covered: boolean;
  /** where this round started among the candidates (`default`, then the active destinations) */
  readonly start: number;
  /** each lane's place among the candidates, from `start` */
  readonly offsets: readonly number[];
}

export class FlowControl {
  /** where the next round starts among the lanes */
  private next = 0;
  /** lanes skipped until then (epoch ms): short (nothing due) or at their limit */
  private readonly dry = new Map<string, number>();
  /** a message holding one of its destination's slots in flight → the destination */
  private readonly slotOf = new Map<string, string>();
  /** a destination whose probe is in flight → the message; the probe's message → its destination */
  private readonly probes = new Map<string, string>();
  private readonly probeOf = new Map<string, string>();
  /** 429 and 503 answers slow a destination down (slow-down.ts) */
  readonly slow = new SlowDown();

  constructor(private readonly o: FlowOptions) {}

  /**
   * The answer to an attempt of destination `id` (null: `default`, which has neither breaker nor
   * slow-down): counted by its breaker; a 429 or 503 slows it down and its Retry-After holds its lane.
   */
  observe(id: string | null, verdict: Verdict, retryAfterMs: number | null, error: string | null): void {
    if (id === null || id === DEFAULT_DESTINATION_ID) return;
    const d = this.o.registry.get(id);
    if (!d) return;
    const now = this.o.now();
    this.o.breakers?.observe(d, verdict, now, error);
    if (verdict !== 'slow') return;
    const sending = this.o.breakers?.window(id).rate(now, SENDING_RATE_MS) ?? 0;
    this.slow.cut(id, laneRate(d), sending, retryAfterMs, now);
    const held = this.slow.heldUntil(id, now);
    if (held > 0) this.dry.set(id, held);
  }

  /** Its circuit keeps this node from sending to destination `id` now (open, or probed elsewhere). */
  blocks(id: string, now: number): boolean {
    return this.o.breakers?.blocks(id, now) ?? false;
  }

  /** The rate destination `d` is sent at now, per second (null: no bound of its own, not slowed). */
  effectiveRate(d: Destination): number | null {
    const r = this.slow.rate(d.id, laneRate(d), this.o.now());
    return r ? r.perMs * 1000 : null;
  }

  /** Destinations other than `default` are delivered: the pool claims by lanes. */
  get active(): boolean {
    return this.o.registry.active().length > 0;
  }

  private isDry(id: string, now: number): boolean {
    const until = this.dry.get(id);
    if (until === undefined) return false;
    if (until > now) return true;
    this.dry.delete(id);
    return false;
  }

  /** New messages may be due in any lane (created, recovered, a wake-up from another node). */
  fresh(): void {
    this.dry.clear();
  }

  /** A message of `destination` (null: `default`) becomes due at `at` (a retry). */
  due(destination: string | null, at: number): void {
    const id = destination ?? DEFAULT_DESTINATION_ID;
    const until = this.dry.get(id);
    if (until !== undefined && at < until) this.dry.set(id, at);
  }

  /** When a skipped lane may have something to claim again (capped at maxDryMs). */
  wakeIn(now: number): number {
    let next = now + this.o.maxDryMs;
    for (const until of this.dry.values()) next = Math.min(next, until);
    return Math.max(1, next - now);
  }

  /** Shares `tokens` among the lanes that may claim now, taking each destination's own limits. */
  async plan(tokens: number): Promise<RoundPlan> {
    const now = this.o.now();
    // the candidates are `default` (position 0) and the active destinations; a round reads them from
    // where the last one stopped and only until its tokens are given out (not all of them: with
    // thousands of destinations, a pass over every one per round showed in profiles)
    const active = this.o.registry.active();
    const n = active.length + 1;
    const candidate = (k: number): Destination | null => (k === 0 ? null : (active[k - 1] ?? null));
    const empty: RoundPlan = {
      limit: 0,
      lanes: [],
      total: 0,
      reserved: [],
      covered: true,
      start: 0,
      offsets: [],
    };
    if (tokens <= 0) return empty;
    const start = this.next % n;
    // lanes that may claim: the candidates less those skipped (an estimate: skips that ran out are counted until seen)
    const open = Math.max(1, n - this.dry.size);
    const share = Math.max(LANE_MIN, Math.ceil(tokens / open));
    // first pass: a share each, in round-robin order, until the tokens are given out
    const asks: Array<{ d: Destination | null; ask: number; offset: number }> = [];
    let left = tokens * OVERBOOK;
    let visited = 0;
    for (; visited < n && left > 0; visited++) {
      const d = candidate((start + visited) % n);
      if (this.isDry(d ? d.id : DEFAULT_DESTINATION_ID, now)) continue;
      const ask = Math.min(share, left);
      asks.push({ d, ask, offset: visited });
      left -= ask;
    }
    if (asks.length === 0) return empty;
    this.next = start + visited;
    const granted = await Promise.all(asks.map(({ d, ask }) => (d ? this.grant(d, ask, now) : null)));
    let limit = 0;
    const out: ClaimLane[] = [];
    const reserved: Reserved[] = [];
    const offsets: number[] = [];
    const unbound: Array<number> = [];
    asks.forEach(({ d, ask, offset }, i) => {
      if (!d) {
        limit = ask;
        unbound.push(-1);
        return;
      }
      const g = granted[i];
      if (!g || g.tokens <= 0) {
        left += ask;
        return;
      }
      left += ask - g.tokens;
      out.push({ destination: d.id, limit: g.tokens });
      reserved.push(g.reserved);
      offsets.push(offset);
      // a lane without limits of its own can take what the limited ones left
      if (!g.reserved.rate && d.max_in_flight === null && !g.reserved.probe) unbound.push(out.length - 1);
    });
    // second pass: what limited lanes could not take goes to the lanes without limits
    for (let k = 0; k < unbound.length && left > 0; k++) {
      const extra = Math.ceil(left / (unbound.length - k));
      const j = unbound[k] ?? -1;
      if (j < 0) limit += extra;
      else {
        const lane = out[j];
        if (lane) lane.limit += extra;
      }
      left -= extra;
    }
    return {
      limit,
      lanes: out,
      total: tokens,
      reserved,
      covered: visited === n,
      start,
      offsets,
    };
  }

  /** Up to `ask` of destination `d`'s tokens and slots; a lane at its limit is skipped until it has some. */
  private async grant(
    d: Destination,
    want: number,
    now: number,
  ): Promise<{ tokens: number; reserved: Reserved } | null> {
    const held = this.slow.heldUntil(d.id, now);
    if (held > 0) {
      this.dry.set(d.id, held);
      return null;
    }
    let ask = want;
    let probe = false;
    if (this.o.breakers) {
      const a = await this.o.breakers.admit(d.id, now);
      if (a.kind === 'wait') {
        this.dry.set(d.id, a.until);
        return null;
      }
      if (a.kind === 'probe') {
        // one probe at a time: the next is asked for when it finished (finished())
        if (this.probes.has(d.id)) {
          this.dry.set(d.id, now + this.o.maxDryMs);
          return null;
        }
        ask = 1;
        probe = true;
      }
    }
    const rate = this.slow.rate(d.id, laneRate(d), now);
    let tokens = ask;
    if (rate) {
      const g = await this.o.limits.take(d.id, rate, ask);
      if (g.tokens <= 0) {
        this.dry.set(d.id, now + Math.max(1, g.waitMs));
        return null;
      }
      tokens = g.tokens;
    }
    let slots = 0;
    if (d.max_in_flight !== null) {
      slots = await this.o.limits.acquire(d.id, d.max_in_flight, tokens);
      if (rate && slots < tokens) this.o.limits.giveBack(d.id, rate, tokens - slots);
      if (slots <= 0) {
        // a slot frees when one of its deliveries ends (finished()), or one held elsewhere expires
        this.dry.set(d.id, now + this.o.maxDryMs);
        return null;
      }
      tokens = slots;
    }
    return { tokens, reserved: { id: d.id, rate, slots, probe } };
  }

  /**
   * After the claim: gives back what each lane did not use, notes which messages hold a slot, and
   * skips a lane that came back short until its next due message. Returns whether every lane came
   * back short and none was left for a later round (nothing more is due now in any of them).
   */
  settle(plan: RoundPlan, claimed: readonly ClaimedMessage[]): boolean {
    const got = new Map<string, ClaimedMessage[]>();
    for (const m of claimed) {
      const id = m.destination_id ?? DEFAULT_DESTINATION_ID;
      const list = got.get(id);
      if (list) list.push(m);
      else got.set(id, [m]);
    }
    // the claim stopped at the round's tokens: a lane after the last one served was not read at all,
    // and one that came back short may have more; they start the next round
    const capped = claimed.length >= plan.total;
    const short: string[] = [];
    let full = false;
    let served = 0;
    if (plan.limit > 0) {
      if ((got.get(DEFAULT_DESTINATION_ID)?.length ?? 0) >= plan.limit) full = true;
      else short.push(DEFAULT_DESTINATION_ID);
    }
    plan.lanes.forEach((lane, i) => {
      const mine = got.get(lane.destination) ?? [];
      const r = plan.reserved[i];
      const unused = lane.limit - mine.length;
      if (r) {
        const freeSlots = Math.min(r.slots, unused);
        if (unused > 0 && r.rate) this.o.limits.giveBack(r.id, r.rate, unused);
        if (freeSlots > 0) this.o.limits.release(r.id, freeSlots);
        for (const m of mine.slice(0, r.slots - freeSlots)) this.slotOf.set(m.id, r.id);
        const p = r.probe ? mine[0] : undefined;
        if (p) {
          this.probes.set(r.id, p.id);
          this.probeOf.set(p.id, r.id);
        }
      }
      if (mine.length > 0) served = (plan.offsets[i] ?? i) + 1;
      if (unused > 0) short.push(lane.destination);
      else full = true;
    });
    if (capped) {
      this.next = plan.start + served;
      return false;
    }
    if (short.length > 0) this.skip(short);
    return !full && plan.covered;
  }

  /**
   * Lanes that came back short are skipped for maxDryMs at once, then until their next due message
   * when that is sooner: one store call for them all, off the round's path.
   */
  private skip(ids: string[]): void {
    const now = this.o.now();
    for (const id of ids) this.dry.set(id, now + this.o.maxDryMs);
    this.o.store.nextDueOf(ids).then(
      (next) => {
        for (const [id, at] of next) {
          const until = this.dry.get(id);
          if (until !== undefined && at.getTime() < until) this.dry.set(id, Math.max(now + 1, at.getTime()));
        }
      },
      // the lanes are looked at again after maxDryMs
      () => undefined,
    );
  }

  /** A claimed message left this node (delivered, released, dropped): its slot in flight is free. */
  finished(messageId: string): void {
    const probed = this.probeOf.get(messageId);
    if (probed !== undefined) {
      this.probeOf.delete(messageId);
      this.probes.delete(probed);
      this.dry.delete(probed);
    }
    const id = this.slotOf.get(messageId);
    if (id === undefined) return;
    this.slotOf.delete(messageId);
    this.o.limits.release(id, 1);
    // its lane may claim again at once
    this.dry.delete(id);
  }

  /** Slots in flight this node holds for destination `id` (health, tests). */
  inFlight(id: string): number {
    return this.o.limits.held(id);
  }

  /** Gives back every slot held (stop). */
  close(): void {
    for (const m of [...this.slotOf.keys()]) this.finished(m);
  }
}
