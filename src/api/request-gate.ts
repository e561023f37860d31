import type { FastifyInstance } from 'fastify';

/**
 * At most `limit` API requests are worked on at once; the others wait their
 * turn (first come, first served) once their body is in. On a node that
 * also delivers, this bounds how much API work one event-loop turn can hold, so
 * a write flood slows the API's answers instead of starving the delivery loop
 * that shares the thread (docs/decisions.md, "A flood of writes waits its turn").
 * Probes never wait.
 */
/** One request's place: `ready` (undefined: at once) resolves when its turn comes; `release()` once it is done or gone. */
export interface Turn {
  ready: Promise<void> | undefined;
  release(): void;
}

interface Waiter {
  go(): void;
}

export class RequestGate {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  /** `binds()`: whether the bound applies now (the node is delivering); when not, nobody waits */
  constructor(
    readonly limit: number,
    private readonly binds: () => boolean = () => true,
  ) {}

  private mayGo(): boolean {
    return this.active < this.limit || !this.binds();
  }

  take(): Turn {
    let state: 'waiting' | 'held' | 'done' = 'held';
    const release = (): void => {
      if (state === 'held') {
        this.active--;
        this.wakeWaiting();
      } else if (state === 'waiting') {
        // gone before its turn: out of the queue, no slot taken
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        waiter.go();
      }
      state = 'done';
    };
    let waiter: Waiter = { go: () => undefined };
    if (this.waiting.length === 0 && this.mayGo()) {
      this.active++;
      return { ready: undefined, release };
    }
    state = 'waiting';
    const ready = new Promise<void>((resolve) => {
      waiter = {
        go: () => {
          if (state === 'waiting') state = 'held';
          resolve();
        },
      };
    });
    this.waiting.push(waiter);
    return { ready, release };
  }

  private wakeWaiting(): void {
    for (let next = this.waiting[0]; next && this.mayGo(); next = this.waiting[0]) {
      this.waiting.shift();
      this.active++;
      next.go();
    }
  }

  /** requests being worked on, and waiting */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
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
export function installGate(app: FastifyInstance, gate: RequestGate, exempt: ReadonlySet<string>): void {
  gates.set(app, gate);
  const turns = new WeakMap<object, Turn>();
  app.addHook('preValidation', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== undefined && exempt.has(route)) return;
    const turn = gate.take();
    turns.set(req, turn);
    reply.raw.once('close', turn.release);
    if (turn.ready) await turn.ready;
  });
  app.addHook('onSend', async (req) => {
    turns.get(req)?.release();
  });
}
