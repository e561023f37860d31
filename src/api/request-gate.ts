import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';

/**
 * How many API requests are worked on at once, and whose next (docs/decisions.md, "Work shared
 * fairly between clients"):
 *
 * - each client (its API key, token subject, or address when anonymous) has at most `perClient`
 *   requests worked on at once, always: 50 connections of one client asking for 1,000-row pages
 *   once held every other request, probes and pool control included, for 16 s;
 * - while `binds()` (a node whose own deliveries share the thread), at most `limit` requests are
 *   worked on in all, so a write flood slows the API's answers instead of starving the delivery
 *   loop (docs/decisions.md, "A flood of writes waits its turn");
 * - the requests that wait are served client by client in turn (round robin), first come first
 *   served within a client, so a client with many waiting passes no one.
 *
 * Probes and pool control never wait (installGate's `exempt`).
 */
/** One request's place: `ready` (undefined: at once) resolves when its turn comes; `release()` once it is done or gone. */
export interface Turn {
  ready: Promise<void> | undefined;
  release(): void;
}

interface Waiter {
  client: string;
  go(): void;
}

export class RequestGate {
  private active = 0;
  private readonly activeBy = new Map<string, number>();
  /** waiting requests by client, and the clients with any, in turn order */
  private readonly waitingBy = new Map<string, Waiter[]>();
  private readonly turnOrder: string[] = [];
  private waitingCount = 0;

  /** `binds()`: whether the total bound applies now (the node is delivering); the per-client bound always does */
  constructor(
    readonly limit: number,
    private readonly binds: () => boolean = () => true,
    readonly perClient: number = Infinity,
  ) {}

  private mayGo(client: string): boolean {
    if ((this.activeBy.get(client) ?? 0) >= this.perClient) return false;
    return this.active < this.limit || !this.binds();
  }

  private hold(client: string): void {
    this.active++;
    this.activeBy.set(client, (this.activeBy.get(client) ?? 0) + 1);
  }

  private unhold(client: string): void {
    this.active--;
    const n = (this.activeBy.get(client) ?? 1) - 1;
    if (n > 0) this.activeBy.set(client, n);
    else this.activeBy.delete(client);
  }

  take(client = ''): Turn {
    let state: 'waiting' | 'held' | 'done' = 'held';
    const release = (): void => {
      if (state === 'held') {
        this.unhold(client);
        this.wakeWaiting();
      } else if (state === 'waiting') {
        // gone before its turn: out of the queue, no slot taken
        this.drop(waiter);
        waiter.go();
      }
      state = 'done';
    };
    let waiter: Waiter = { client, go: () => undefined };
    if (!this.waitingBy.has(client) && this.mayGo(client)) {
      this.hold(client);
      return { ready: undefined, release };
    }
    state = 'waiting';
    const ready = new Promise<void>((resolve) => {
      waiter = {
        client,
        go: () => {
          // held from now (a release before it starts gives the place back), started after the
          // I/O that is pending: a turn given in this microtask would run its request (a
          // synchronous SQLite page) at once, and the next, before any other client's bytes are read
          if (state === 'waiting') state = 'held';
          setImmediate(resolve);
        },
      };
    });
    const queue = this.waitingBy.get(client);
    if (queue) queue.push(waiter);
    else {
      this.waitingBy.set(client, [waiter]);
      this.turnOrder.push(client);
    }
    this.waitingCount++;
    return { ready, release };
  }

  private drop(w: Waiter): void {
    const queue = this.waitingBy.get(w.client);
    const i = queue?.indexOf(w) ?? -1;
    if (!queue || i < 0) return;
    queue.splice(i, 1);
    this.waitingCount--;
    if (queue.length === 0) {
      this.waitingBy.delete(w.client);
      this.turnOrder.splice(this.turnOrder.indexOf(w.client), 1);
    }
  }

  /** Gives turns, client by client in order, while any client that waits may go. */
  private wakeWaiting(): void {
    let looked = 0;
    while (looked < this.turnOrder.length) {
      const client = this.turnOrder[0] as string;
      const queue = this.waitingBy.get(client) as Waiter[];
      if (!this.mayGo(client)) {
        // its turn passes to the next client; it keeps its place at the end
        this.turnOrder.push(this.turnOrder.shift() as string);
        looked++;
        continue;
      }
      const next = queue.shift() as Waiter;
      this.waitingCount--;
      this.turnOrder.shift();
      if (queue.length > 0) this.turnOrder.push(client);
      else this.waitingBy.delete(client);
      this.hold(client);
      next.go();
      looked = 0;
    }
  }

  /** requests being worked on, and waiting */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waitingCount };
  }
}

const gates = new WeakMap<FastifyInstance, RequestGate>();

/** The gate installed on `app`, if any (tests, diagnostics). */
export function gateOf(app: FastifyInstance): RequestGate | undefined {
  return gates.get(app);
}

/**
 * Installs `gate` on every route but `exempt`. A request takes its turn once its
 * body is in (preValidation: a client that drips its body must not hold a place
 * for api.requestTimeout) and gives it back when its answer is ready to send
 * (onSend: a client that does not read must not hold it either), or when the
 * client goes away first. Registered after the access checks: refused requests never wait.
 */
export function installGate(
  app: FastifyInstance,
  gate: RequestGate,
  exempt: ReadonlySet<string>,
  clientOf: (req: FastifyRequest) => string = () => '',
): void {
  gates.set(app, gate);
  const turns = new WeakMap<object, Turn>();
  app.addHook('preValidation', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== undefined && exempt.has(route)) return;
    const turn = gate.take(clientOf(req));
    turns.set(req, turn);
    // 'close' also comes (in a nextTick) when the answer is written: deferred like onSend's below
    reply.raw.once('close', () => setImmediate(turn.release));
    if (turn.ready) await turn.ready;
  });
  app.addHook('onSend', async (req) => {
    // given back after the event loop's next pass, not now: a request that ends within the
    // callback that read it (a synchronous SQLite page) would otherwise free its place before
    // the next socket of the same poll is read, and 50 connections of one client passed a bound
    // of 4 one after another in one event-loop turn (560 ms) while /healthz waited behind them
    const turn = turns.get(req);
    if (turn) setImmediate(turn.release);
  });
}

export interface GateOptions {
  gate: RequestGate;
  exempt: ReadonlySet<string>;
  clientOf: (req: FastifyRequest) => string;
}

/** The request gate as a plugin of the root instance, registered after access control. */
export const requestGate = fp<GateOptions>(async (app, o) => installGate(app, o.gate, o.exempt, o.clientOf), {
  name: 'request-gate',
  fastify: '5.x',
  dependencies: ['access-control'],
});
