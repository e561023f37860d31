import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { secretBytes, verify } from '../src/delivery/signature.js';

/**
 * A local webhook receiver that answers like webhook.site
 * (202 `{"message":"Accepted","messageId":"<uuid>"}`), for demos, tests and
 * benchmarks. It can fail a share of requests, add latency, verify Standard
 * Webhooks signatures, and counts requests and repeated webhook-ids.
 */
export interface SinkOptions {
  port: number;
  host: string;
  /** share of requests answered 500, 0..1 */
  failRate: number;
  /** share answered 429 with Retry-After: 1 */
  throttleRate: number;
  /** share never answered in time: held `hangMs`, then 504 (the sender should have timed out) */
  timeoutRate: number;
  hangMs: number;
  /** share of otherwise normal requests delayed `slowMs` (a slow tail) */
  slowRate: number;
  slowMs: number;
  /** added latency in ms: fixed, or a [min, max] range */
  latencyMs: number | [number, number];
  /** when set, requests without a valid signature get 401 */
  secret: string;
  /** keep the last N deliveries for GET /deliveries */
  keep: number;
  random: () => number;
}

export interface SinkStats {
  requests: number;
  accepted: number;
  failed_injected: number;
  throttled_injected: number;
  timed_out_injected: number;
  rejected_signature: number;
  rejected_bad_request: number;
  unique_webhook_ids: number;
  /** accepted requests whose webhook-id had been accepted before */
  duplicates: number;
  /** OTLP/HTTP trace exports received at POST /v1/traces (discarded: the benchmark's tracing cost) */
  trace_exports: number;
  /** accepted requests per path (the first 2,000 paths; the rest under `other`): one per destination */
  paths: Record<string, number>;
}

const MAX_PATHS = 2000;

/** GET /progress has a time every this many accepted requests (the benchmark's steady rate). */
export const PROGRESS_STEP = 500;

export interface SinkDelivery {
  webhook_id: string | null;
  webhook_timestamp: string | null;
  /** the request's Accept header */
  accept: string | null;
  /** W3C Trace Context the request carried (tracing on) */
  traceparent: string | null;
  signature_valid: boolean | null;
  to: unknown;
  content: unknown;
  /** the body as received, byte for byte (a receiver that hashes bodies sees these) */
  body: string;
  message_id: string;
  received_at: string;
}

export const SINK_DEFAULTS: SinkOptions = {
  port: 4000,
  host: '127.0.0.1',
  failRate: 0,
  throttleRate: 0,
  timeoutRate: 0,
  hangMs: 30_000,
  slowRate: 0,
  slowMs: 2000,
  latencyMs: 0,
  secret: '',
  keep: 1000,
  random: Math.random,
};

export class Sink {
  private server: Server | null = null;
  private readonly o: SinkOptions;
  private readonly key: Buffer | null;
  private readonly acceptedIds = new Map<string, number>();
  /** timers of held (injected-timeout) requests, cleared on stop */
  private readonly hangs = new Set<NodeJS.Timeout>();
  /** every request per webhook-id, answered or not */
  private readonly requestIds = new Map<string, number>();
  private counters = this.zero();
  private paths = new Map<string, number>();
  private recent: SinkDelivery[] = [];
  /** when the accepted count reached PROGRESS_STEP, 2 × PROGRESS_STEP, …: ms on the epoch, fractional */
  private progress: number[] = [];

  constructor(options: Partial<SinkOptions> = {}) {
    this.o = { ...SINK_DEFAULTS, ...options };
    this.key = this.o.secret ? secretBytes(this.o.secret) : null;
  }

  private zero(): Omit<SinkStats, 'unique_webhook_ids' | 'paths'> {
    return {
      requests: 0,
      accepted: 0,
      failed_injected: 0,
      throttled_injected: 0,
      timed_out_injected: 0,
      rejected_signature: 0,
      rejected_bad_request: 0,
      duplicates: 0,
      trace_exports: 0,
    };
  }

  stats(): SinkStats {
    return {
      ...this.counters,
      unique_webhook_ids: this.acceptedIds.size,
      paths: Object.fromEntries(this.paths),
    };
  }

  /** Times each webhook-id was accepted. */
  acceptedCount(webhookId: string): number {
    return this.acceptedIds.get(webhookId) ?? 0;
  }

  /** Requests that carried this webhook-id, whatever the answer. */
  requestCount(webhookId: string): number {
    return this.requestIds.get(webhookId) ?? 0;
  }

  deliveries(): SinkDelivery[] {
    return this.recent.slice(-this.o.keep);
  }

  reset(): void {
    this.counters = this.zero();
    this.paths.clear();
    this.acceptedIds.clear();
    this.requestIds.clear();
    this.recent = [];
    this.progress = [];
  }

  async start(): Promise<number> {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.o.port, this.o.host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = null;
    if (!s) return;
    for (const t of this.hangs) clearTimeout(t);
    this.hangs.clear();
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(code, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/stats') return this.send(res, 200, this.stats());
    if (req.method === 'GET' && req.url === '/deliveries') return this.send(res, 200, this.deliveries());
    if (req.method === 'GET' && req.url === '/progress')
      return this.send(res, 200, { step: PROGRESS_STEP, at_ms: this.progress });
    if (req.method === 'POST' && req.url === '/reset') {
      this.reset();
      return this.send(res, 200, this.stats());
    }
    if (req.method === 'POST' && req.url === '/v1/traces') {
      // an OTLP receiver that keeps nothing (read, not decoded): an empty ExportTraceServiceResponse
      req.resume();
      req.once('end', () => {
        this.counters.trace_exports++;
        res.writeHead(200, { 'content-type': 'application/x-protobuf', 'content-length': '0' });
        res.end();
      });
      return;
    }
    const body = await readBody(req);
    if (body === null) return; // the sender gave up mid-body
    this.counters.requests++;
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v[0] : v;
    };
    const webhookId = header('webhook-id') ?? null;
    if (webhookId !== null) this.requestIds.set(webhookId, (this.requestIds.get(webhookId) ?? 0) + 1);
    let delay = Array.isArray(this.o.latencyMs)
      ? this.o.latencyMs[0] + this.o.random() * (this.o.latencyMs[1] - this.o.latencyMs[0])
      : this.o.latencyMs;
    // drawn only when those faults are asked for, so the failure roll below sees the same sequence
    const fate = this.o.timeoutRate + this.o.slowRate > 0 ? this.o.random() : 1;
    if (fate < this.o.timeoutRate) {
      this.counters.timed_out_injected++;
      await new Promise<void>((r) => {
        const t = setTimeout(() => {
          this.hangs.delete(t);
          r();
        }, this.o.hangMs);
        this.hangs.add(t);
      });
      if (!res.destroyed) this.send(res, 504, { message: 'injected timeout' });
      return;
    }
    if (fate < this.o.timeoutRate + this.o.slowRate) delay += this.o.slowMs;
    if (delay > 0) await new Promise((r) => setTimeout(r, delay));

    let signatureValid: boolean | null = null;
    if (this.key) {
      signatureValid = verify(
        this.key,
        {
          id: header('webhook-id'),
          timestamp: header('webhook-timestamp'),
          signature: header('webhook-signature'),
        },
        body,
      );
      if (!signatureValid) {
        this.counters.rejected_signature++;
        return this.send(res, 401, { message: 'invalid signature' });
      }
    }
    let parsed: { to?: unknown; content?: unknown };
    try {
      parsed = JSON.parse(body) as { to?: unknown; content?: unknown };
    } catch {
      this.counters.rejected_bad_request++;
      return this.send(res, 400, { message: 'body is not JSON' });
    }
    const roll = this.o.random();
    if (roll < this.o.failRate) {
      this.counters.failed_injected++;
      return this.send(res, 500, { message: 'injected failure' });
    }
    if (roll < this.o.failRate + this.o.throttleRate) {
      this.counters.throttled_injected++;
      return this.send(res, 429, { message: 'slow down' }, { 'retry-after': '1' });
    }
    const messageId = randomUUID();
    this.counters.accepted++;
    if (this.counters.accepted % PROGRESS_STEP === 0)
      this.progress.push(performance.timeOrigin + performance.now());
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const key = this.paths.has(path) || this.paths.size < MAX_PATHS ? path : 'other';
    this.paths.set(key, (this.paths.get(key) ?? 0) + 1);
    if (webhookId !== null) {
      const seen = this.acceptedIds.get(webhookId) ?? 0;
      if (seen > 0) this.counters.duplicates++;
      this.acceptedIds.set(webhookId, seen + 1);
    }
    if (this.o.keep > 0) {
      this.recent.push({
        webhook_id: webhookId,
        webhook_timestamp: header('webhook-timestamp') ?? null,
        accept: header('accept') ?? null,
        traceparent: header('traceparent') ?? null,
        signature_valid: signatureValid,
        to: parsed.to,
        content: parsed.content,
        body,
        message_id: messageId,
        received_at: new Date().toISOString(),
      });
      // trimmed in steps, not on every request: shifting a full array per request is O(keep)
      if (this.recent.length >= this.o.keep * 2) this.recent = this.recent.slice(-this.o.keep);
    }
    return this.send(res, 202, { message: 'Accepted', messageId });
  }
}

/**
 * The request body as text, or null if the request broke off. Events rather
 * than `for await`: the iterator cost the receiver a fifth more CPU per request
 * (45 against 36 µs in the benchmark's HTTP limit), CPU the services it
 * measures share on one machine.
 */
function readBody(req: IncomingMessage): Promise<string | null> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () =>
      resolve(
        chunks.length === 1 ? (chunks[0]?.toString('utf8') ?? '') : Buffer.concat(chunks).toString('utf8'),
      ),
    );
    req.once('error', () => resolve(null));
    req.once('close', () => {
      if (!req.complete) resolve(null);
    });
  });
}
