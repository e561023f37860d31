import type { Worker } from 'node:worker_threads';
import { startThread } from '../threads/start-thread.js';
import type { Deliverer, DeliveryResult, WebhookClientOptions, WebhookRequest } from './webhook-client.js';

/** Messages between the main thread and a delivery thread (structured-clone safe). */
export type ToThread =
  { type: 'jobs'; jobs: { seq: number; request: WebhookRequest }[] } | { type: 'close'; graceMs: number };
export type FromThread = { type: 'results'; results: { seq: number; result: DeliveryResult }[] };

interface Waiting {
  resolve(result: DeliveryResult): void;
  thread: Lane;
}

interface Lane {
  worker: Worker;
  inFlight: number;
  outbox: { seq: number; request: WebhookRequest }[];
  exited: boolean;
}

/**
 * A Deliverer that runs the HTTP work on `threads` worker threads, each with
 * its own undici Pool, so the main thread only claims and stores. Requests
 * and results cross threads in batches (one postMessage per event-loop turn).
 * A thread that dies fails its in-flight deliveries as retryable and is
 * replaced, so no claimed message is left waiting.
 */
export class ThreadedDeliverer implements Deliverer {
  private readonly lanes: Lane[] = [];
  private readonly waiting = new Map<number, Waiting>();
  private seq = 0;
  private flushScheduled = false;
  private closing = false;

  constructor(
    private readonly options: WebhookClientOptions,
    threads: number,
  ) {
    const perThread = { ...options, connections: Math.max(1, Math.ceil(options.connections / threads)) };
    for (let i = 0; i < threads; i++) this.lanes.push(this.spawn(perThread));
  }

  private spawn(clientOptions: WebhookClientOptions): Lane {
    const worker = startThread(import.meta.url, 'delivery-thread', clientOptions);
    const lane: Lane = { worker, inFlight: 0, outbox: [], exited: false };
    worker.on('message', (msg: FromThread) => {
      for (const { seq, result } of msg.results) {
        const w = this.waiting.get(seq);
        if (!w) continue;
        this.waiting.delete(seq);
        w.thread.inFlight--;
        w.resolve(result);
      }
    });
    worker.on('error', (err) => this.lost(lane, `delivery thread crashed: ${err.message}`));
    worker.on('exit', (code) => this.lost(lane, `delivery thread exited with code ${code}`));
    // the main thread's event loop should not be held open by idle delivery threads
    worker.unref();
    return lane;
  }

  /** Fails what a dead thread had in flight (retryable: the request may or may not have left) and replaces it. */
  private lost(lane: Lane, error: string): void {
    if (lane.exited) return;
    lane.exited = true;
    // still in the outbox: never posted, so not sent; the others were posted and may have been
    const outboxed = new Set(lane.outbox.map((j) => j.seq));
    for (const [seq, w] of this.waiting) {
      if (w.thread !== lane) continue;
      this.waiting.delete(seq);
      w.resolve({
        kind: 'retryable',
        statusCode: null,
        error,
        retryAfterMs: null,
        maybeDelivered: !outboxed.has(seq),
      });
    }
    lane.outbox = [];
    if (this.closing) return;
    const i = this.lanes.indexOf(lane);
    const perThread = {
      ...this.options,
      connections: Math.max(1, Math.ceil(this.options.connections / this.lanes.length)),
    };
    if (i >= 0) this.lanes[i] = this.spawn(perThread);
  }

  deliver(request: WebhookRequest): Promise<DeliveryResult> {
    if (this.closing) {
      return Promise.resolve({
        kind: 'retryable',
        statusCode: null,
        error: 'deliverer is closing',
        retryAfterMs: null,
        maybeDelivered: false,
      });
    }
    // the least busy thread takes it
    let lane = this.lanes[0] as Lane;
    for (const l of this.lanes) if (l.inFlight < lane.inFlight) lane = l;
    const seq = this.seq++;
    lane.inFlight++;
    lane.outbox.push({ seq, request });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return new Promise((resolve) => this.waiting.set(seq, { resolve, thread: lane }));
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const lane of this.lanes) {
      if (lane.outbox.length === 0) continue;
      const msg: ToThread = { type: 'jobs', jobs: lane.outbox };
      lane.outbox = [];
      lane.worker.postMessage(msg);
    }
  }

  /**
   * Lets the threads finish what they hold for up to `graceMs` (the pool already
   * waited for it), then stops them; a thread that does not exit by then is terminated.
   */
  async close(graceMs = this.options.timeoutMs + 1000): Promise<void> {
    this.closing = true;
    this.flush();
    await Promise.all(
      this.lanes.map(
        (lane) =>
          new Promise<void>((resolve) => {
            if (lane.exited) return resolve();
            const kill = setTimeout(() => void lane.worker.terminate(), graceMs + 500);
            kill.unref();
            lane.worker.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            const msg: ToThread = { type: 'close', graceMs };
            lane.worker.postMessage(msg);
          }),
      ),
    );
  }
}
