import type { Logger } from '../logging/logger.js';
import type { ControlStore, NodeActivity, NodeRecord, SharedPoolState } from '../store/control-store.js';
import type { MessageStore } from '../store/store.js';

/** What the cluster drives of the local worker pool. */
export interface LocalPool {
  getState(): SharedPoolState;
  pause(): void;
  resume(): void;
  readonly inFlightCount: number;
}

export interface ClusterOptions {
  control: ControlStore;
  messages: Pick<MessageStore, 'recoverOwners'>;
  pool: LocalPool;
  nodeId: string;
  role: string;
  version: string;
  heartbeatMs: number;
  nodeTimeoutMs: number;
  stateSyncMs: number;
  /** the state at boot when none is stored (pool.initialJobFetch) */
  initialState: SharedPoolState;
  atMostOnce: boolean;
  logger: Logger;
  now?: () => number;
  /** the view this node keeps up to date (made first, for the pool, the limiter and the gauges) */
  view?: ClusterView;
  /** what it delivered in its last minutes, written with each heartbeat (the dashboard's overview) */
  activity?: () => NodeActivity | null;
}

/**
 * What the rest of a node reads of its place in the cluster: the fence the worker pool checks and
 * the live delivering nodes a rate is shared among. Made before the pool and the cluster node (the
 * node writes it, the others read it), so no part reaches another through a late-bound closure.
 */
export class ClusterView {
  /** when the last heartbeat that was stored began */
  lastBeat = -Infinity;
  /** bumped when a heartbeat gap longer than the fence was seen: claims from before are dropped */
  gen = 0;
  /** live nodes that deliver (role all or worker), this one counted */
  deliverers = 1;

  constructor(
    private readonly nodeTimeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The fence the worker pool checks before it starts a delivery. */
  readonly fence = {
    fenced: (): boolean => this.now() - this.lastBeat > this.nodeTimeoutMs / 2,
    generation: (): number => this.gen,
  };

  /** Live nodes that deliver, this one counted: the share of a rate divided among them. */
  liveDeliverers(): number {
    return this.deliverers;
  }
}

/** A node as GET /worker-pool/state and GET /nodes show it. */
export interface NodeView {
  id: string;
  role: string;
  state: string;
  in_flight: number;
  version: string;
  started_at: string;
  last_seen: string;
}

const view = (n: NodeRecord): NodeView => ({
  id: n.id,
  role: n.role,
  state: n.state,
  in_flight: n.in_flight,
  version: n.version,
  started_at: n.started_at.toISOString(),
  last_seen: n.last_seen.toISOString(),
});

/**
 * This node's part in the cluster (every node of a shared store is one):
 * the pool state the operators set is read from the store every
 * `stateSyncMs` and followed; a heartbeat is written every `heartbeatMs`; a
 * node not heard from for `nodeTimeoutMs` is dead, and any live node returns
 * its leases at once. A node whose own last successful heartbeat is older than
 * half of `nodeTimeoutMs` is fenced: it starts no delivery, since others may
 * soon recover what it holds. `tick()` runs one round (tests drive it).
 */
export class ClusterNode {
  private readonly now: () => number;
  private readonly log: Logger;
  private readonly startedAt: Date;
  readonly view: ClusterView;
  private timers: NodeJS.Timeout[] = [];
  private beating: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private beatFailing = false;
  private syncFailing = false;
  private stopped = false;

  constructor(private readonly o: ClusterOptions) {
    this.now = o.now ?? Date.now;
    this.log = o.logger.child({ component: 'cluster', node: o.nodeId });
    this.startedAt = new Date(this.now());
    this.view = o.view ?? new ClusterView(o.nodeTimeoutMs, this.now);
  }

  /** The fence the worker pool checks before it starts a delivery. */
  get fence(): ClusterView['fence'] {
    return this.view.fence;
  }

  /**
   * Comes up in the stored state (or the configured one when none is stored), heartbeats once
   * (so this node is live before it claims anything), then keeps both up to date.
   */
  async start(): Promise<void> {
    const stored = await this.o.control.getPoolState();
    this.apply(stored?.state ?? this.o.initialState, stored ? 'stored' : 'pool.initialJobFetch');
    await this.heartbeat();
    this.timers.push(
      setInterval(() => void this.beat(), this.o.heartbeatMs),
      setInterval(() => void this.sync(), this.o.stateSyncMs),
    );
    for (const t of this.timers) t.unref();
  }

  /** Stops the timers and takes this node out of the list (its leases are released by the pool). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await Promise.allSettled([this.beating, this.syncing]);
    await this.o.control.removeNodes([this.o.nodeId]).catch(() => undefined);
  }

  /** Sets the cluster's state: stored first (every node follows it), then applied here at once. */
  async setState(state: SharedPoolState, by: string): Promise<SharedPoolState> {
    await this.o.control.setPoolState(state, by, new Date(this.now()));
    this.apply(state, `set by ${by}`);
    return state;
  }

  /** Live nodes: heard from within nodeTimeout. */
  async nodes(): Promise<NodeView[]> {
    return (await this.liveNodes()).map(view);
  }

  /** The live nodes' rows, their activity included (the dashboard's overview). */
  async liveNodes(): Promise<NodeRecord[]> {
    const cutoff = this.now() - this.o.nodeTimeoutMs;
    return (await this.o.control.listNodes()).filter((n) => n.last_seen.getTime() >= cutoff);
  }

  /** Reads the cluster's pool state now (another node signalled a change). */
  syncNow(): Promise<void> {
    return this.sync();
  }

  /** One round of both loops (tests). */
  async tick(): Promise<void> {
    await this.heartbeat();
    await this.readState();
  }

  private beat(): Promise<void> {
    this.beating ??= this.heartbeat()
      .catch(() => undefined)
      .finally(() => {
        this.beating = null;
      });
    return this.beating;
  }

  private sync(): Promise<void> {
    this.syncing ??= this.readState()
      .catch(() => undefined)
      .finally(() => {
        this.syncing = null;
      });
    return this.syncing;
  }

  private apply(state: SharedPoolState, why: string): void {
    if (this.o.pool.getState() === state) return;
    this.log.info({ state, why }, 'following the cluster pool state');
    if (state === 'paused') this.o.pool.pause();
    else this.o.pool.resume();
  }

  private async readState(): Promise<void> {
    if (this.stopped) return;
    try {
      const stored = await this.o.control.getPoolState();
      if (this.syncFailing) this.log.info('the cluster pool state is read again');
      this.syncFailing = false;
      if (stored && !this.stopped) this.apply(stored.state, `stored by ${stored.updated_by}`);
    } catch (err) {
      if (!this.syncFailing)
        this.log.warn({ err }, 'cannot read the cluster pool state; keeping the last one');
      this.syncFailing = true;
      throw err;
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped) return;
    const began = this.now();
    const wasFenced = this.fence.fenced();
    try {
      await this.o.control.heartbeat(
        {
          id: this.o.nodeId,
          role: this.o.role,
          state: wasFenced ? 'stale' : this.o.pool.getState(),
          in_flight: this.o.pool.inFlightCount,
          version: this.o.version,
          started_at: this.startedAt,
          activity: this.o.activity?.() ?? null,
        },
        new Date(began),
      );
    } catch (err) {
      if (!this.beatFailing) this.log.warn({ err }, 'cannot write the heartbeat; fenced once it is stale');
      this.beatFailing = true;
      throw err;
    }
    // a gap longer than the fence (failed heartbeats, or the process was stopped): whatever the pool
    // claimed before it is no longer surely its own, even if nothing looked at the fence meanwhile
    const v = this.view;
    if (began - v.lastBeat > this.o.nodeTimeoutMs / 2 && Number.isFinite(v.lastBeat)) {
      v.gen++;
      this.log.warn(
        { gapMs: began - v.lastBeat },
        'heartbeat was stale: claimed messages not started are dropped',
      );
    }
    const tookMs = this.now() - began;
    if (tookMs > this.o.nodeTimeoutMs / 4) {
      this.log.warn(
        { tookMs, nodeTimeoutMs: this.o.nodeTimeoutMs },
        'slow heartbeat: the store is slow to answer; raise pool.nodeTimeout if this repeats',
      );
    }
    if (this.beatFailing) this.log.info('the heartbeat is written again');
    this.beatFailing = false;
    v.lastBeat = Math.max(v.lastBeat, began);
    await this.recoverDead(began);
  }

  /** Any live node does it: idempotent, so several at once do no harm. */
  private async recoverDead(now: number): Promise<void> {
    const cutoff = now - this.o.nodeTimeoutMs;
    const rows = await this.o.control.listNodes();
    const others = rows.filter(
      (n) => n.id !== this.o.nodeId && n.last_seen.getTime() >= cutoff && n.role !== 'api',
    );
    this.view.deliverers = Math.max(1, others.length + (this.o.role === 'api' ? 0 : 1));
    const dead = rows.filter((n) => n.id !== this.o.nodeId && n.last_seen.getTime() < cutoff);
    if (dead.length === 0) return;
    const ids = dead.map((n) => n.id);
    const to = this.o.atMostOnce ? 'unknown' : 'unsent';
    const recovered = await this.o.messages.recoverOwners(ids, new Date(now), to);
    await this.o.control.removeNodes(ids);
    this.log.warn(
      { dead: ids, recovered, to, silentForMs: dead.map((n) => now - n.last_seen.getTime()) },
      'nodes stopped heartbeating: their messages were recovered',
    );
  }
}
