import type { Worker } from 'node:worker_threads';
import { randomFillSync } from 'node:crypto';
import { ROOT_CONTEXT, SpanKind, trace, TraceFlags, type Context } from '@opentelemetry/api';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  SamplingDecision,
  TraceIdRatioBasedSampler,
  type Sampler,
} from '@opentelemetry/sdk-trace-base';
import type { TracingConfig } from '../config/tracing-config.js';
import { startThread } from '../threads/start-thread.js';
import type { DeliveryResult } from '../delivery/webhook-client.js';
import type { ClaimedMessage, Outcome } from '../store/store.js';
import type { AttemptTrace } from '../worker/pool-tracer.js';
import {
  BlockPool,
  MAX_ERROR_CHARS,
  recordBound,
  ROUND_BYTES,
  writeAttempt,
  writeRound,
} from './span-records.js';

export interface ExportThreadData {
  config: TracingConfig;
  version: string;
  webhookUrl: string;
  /** the shared blocks of span records and their handed-over lengths (span-records.ts) */
  blocks: SharedArrayBuffer[];
  lengths: Int32Array;
}

/** The one message to the export thread: read what is left, export it and exit. */
export type ToExportThread = { type: 'close' };

/** The samplers OTEL_TRACES_SAMPLER names, as the SDK builds them. */
export function samplerOf(config: TracingConfig): Sampler {
  const root = config.sampler.endsWith('always_off')
    ? new AlwaysOffSampler()
    : config.sampler.endsWith('traceidratio')
      ? new TraceIdRatioBasedSampler(config.ratio)
      : new AlwaysOnSampler();
  return config.sampler.startsWith('parentbased_') ? new ParentBasedSampler({ root }) : root;
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * Random ids from a pooled buffer: one getrandom call and one hex string per 340 attempts,
 * each id a slice of it (V8 slices a long string without copying).
 */
class Ids {
  private readonly pool = Buffer.alloc(8192);
  private hexPool = '';
  private at = this.pool.length;

  hex(bytes: number, zero: string): string {
    for (;;) {
      if (this.at + bytes > this.pool.length) {
        randomFillSync(this.pool);
        this.hexPool = this.pool.toString('hex');
        this.at = 0;
      }
      const id = this.hexPool.slice(2 * this.at, 2 * (this.at + bytes));
      this.at += bytes;
      if (id !== zero) return id;
    }
  }
}

/** the clock of a span: whole microseconds since the epoch (an integer prints faster than a fraction) */
const micros = (): number => Math.round((performance.timeOrigin + performance.now()) * 1000);
/** a block being written is handed over after at most this long */
const FLUSH_EVERY_MS = 100;
/**
 * 16 blocks of 64 KiB: about 300 attempt records a block. The export thread reads every 25 ms
 * while spans come, so 4,800 records can wait: 190,000 attempts a second.
 */
const BLOCK_BYTES = 64 * 1024;
const BLOCKS = 16;

/**
 * The worker pool's spans (delivery attempts and claim rounds), made without span objects on
 * the delivery path: the sampler decides, the ids come from a pool, the webhook request gets
 * its `traceparent`, and the finished span is a record of primitives in a shared block
 * (span-records.ts). Blocks go to a thread that encodes and exports them (span-export-thread.ts,
 * configured by the same OTEL_* variables as the rest of the service's spans).
 */
export class PoolSpans {
  private readonly sampler: Sampler;
  private readonly samplerName: TracingConfig['sampler'];
  private readonly ids = new Ids();
  private readonly worker: Worker;
  private readonly blocks: BlockPool;
  private timer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;
  private exited = false;

  constructor(config: TracingConfig, version: string, webhookUrl: string) {
    this.sampler = samplerOf(config);
    this.samplerName = config.sampler;
    this.blocks = new BlockPool(BLOCK_BYTES, BLOCKS);
    const data: ExportThreadData = {
      config,
      version,
      webhookUrl,
      blocks: this.blocks.buffers,
      lengths: this.blocks.lengths,
    };
    this.worker = startThread(import.meta.url, 'span-export-thread', data);
    // spans are best effort: a thread that fails loses its spans, never a delivery
    this.worker.on('error', () => undefined);
    this.worker.on('exit', () => (this.exited = true));
    this.worker.unref();
  }

  start(message: ClaimedMessage, attempt: number, url?: string | null): AttemptTrace {
    const parent = message.trace_context ? TRACEPARENT.exec(message.trace_context) : null;
    const parentTrace = parent?.[1] !== undefined && parent[1] !== ZERO_TRACE ? parent[1] : null;
    const parentSpan = parentTrace && parent?.[2] !== ZERO_SPAN ? (parent?.[2] ?? '') : '';
    const traceId = parentTrace && parentSpan ? parentTrace : this.ids.hex(16, ZERO_TRACE);
    const spanId = this.ids.hex(8, ZERO_SPAN);
    const parentFlags = parentSpan ? parseInt(parent?.[3] ?? '0', 16) & TraceFlags.SAMPLED : 0;
    return new Attempt(
      this,
      traceId,
      spanId,
      parentSpan,
      this.sampled(traceId, parentSpan, parentFlags),
      attempt,
      message.webhook_id,
      // a destination other than `default`: its id and URL (no query: it can hold a token)
      message.destination_id !== null && url ? message.destination_id : '',
      message.destination_id !== null && url ? spanUrl(url) : '',
    );
  }

  /**
   * The sampler's decision. The defaults need no call: always_on samples everything, and
   * parentbased_always_on follows the parent's flag or samples a root (what the SDK's samplers
   * answer, without a context and a result object per attempt).
   */
  private sampled(traceId: string, parentSpan: string, parentFlags: number): boolean {
    if (this.samplerName === 'always_on') return true;
    if (this.samplerName === 'parentbased_always_on')
      return parentSpan ? parentFlags === TraceFlags.SAMPLED : true;
    let ctx: Context = ROOT_CONTEXT;
    if (parentSpan) {
      ctx = trace.setSpanContext(ROOT_CONTEXT, {
        traceId,
        spanId: parentSpan,
        traceFlags: parentFlags,
        isRemote: true,
      });
    }
    return (
      this.sampler.shouldSample(ctx, traceId, 'POST', SpanKind.CLIENT, {}, []).decision ===
      SamplingDecision.RECORD_AND_SAMPLED
    );
  }

  /** A finished attempt's record, into the block being written (dropped when none is free). */
  record(
    traceId: string,
    spanId: string,
    parentSpanId: string,
    startUs: number,
    attempt: number,
    webhookId: string,
    result: DeliveryResult,
    outcome: string,
    destination: string,
    url: string,
  ): void {
    const endUs = micros();
    const failed = result.kind !== 'delivered';
    const type = failed ? errorType(result) : '';
    const message = failed ? result.error.slice(0, MAX_ERROR_CHARS) : '';
    const b = this.blocks.reserve(recordBound(webhookId, type, message, destination, url));
    if (!b) return;
    this.wrote(
      writeAttempt(
        b,
        this.blocks.pos,
        traceId,
        spanId,
        parentSpanId,
        startUs,
        endUs,
        attempt,
        result.statusCode ?? -1,
        outcome,
        webhookId,
        type,
        message,
        destination,
        url,
      ),
    );
  }

  /** A claim round from `startedMs` to now that claimed or stored something: a root span. */
  round(startedMs: number, claimed: number, stored: number): void {
    const traceId = this.ids.hex(16, ZERO_TRACE);
    if (!this.sampled(traceId, '', 0)) return;
    const spanId = this.ids.hex(8, ZERO_SPAN);
    const b = this.blocks.reserve(ROUND_BYTES);
    if (!b) return;
    this.wrote(
      writeRound(
        b,
        this.blocks.pos,
        traceId,
        spanId,
        Math.round(startedMs * 1000),
        micros(),
        claimed,
        stored,
      ),
    );
  }

  /** A record written up to `pos`: the block goes over within FLUSH_EVERY_MS even if it is not full. */
  private wrote(pos: number): void {
    this.blocks.pos = pos;
    this.timer ??= setTimeout(() => this.flush(), FLUSH_EVERY_MS);
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.blocks.flush();
  }

  /** Sends what is left; the thread exports it and exits (terminated after `graceMs`). */
  close(graceMs = 5000): Promise<void> {
    this.closing ??= new Promise<void>((resolve) => {
      this.flush();
      if (this.exited) return resolve();
      const kill = setTimeout(() => void this.worker.terminate(), graceMs);
      kill.unref();
      this.worker.once('exit', () => {
        clearTimeout(kill);
        resolve();
      });
      const msg: ToExportThread = { type: 'close' };
      this.worker.postMessage(msg);
    });
    return this.closing;
  }
}

/** One attempt's trace: its ids, the webhook request's traceparent, and its row once it ends. */
class Attempt implements AttemptTrace {
  readonly traceparent: string;
  private readonly startUs = micros();

  constructor(
    private readonly spans: PoolSpans,
    private readonly traceId: string,
    private readonly spanId: string,
    private readonly parentSpan: string,
    private readonly sampledFlag: boolean,
    private readonly attempt: number,
    private readonly webhookId: string,
    private readonly destination: string,
    private readonly url: string,
  ) {
    this.traceparent = `00-${traceId}-${spanId}-${sampledFlag ? '01' : '00'}`;
  }

  get logIds(): Record<string, string> {
    return { trace_id: this.traceId, span_id: this.spanId };
  }

  end(result: DeliveryResult, outcome: Outcome['kind']): void {
    if (!this.sampledFlag) return;
    this.spans.record(
      this.traceId,
      this.spanId,
      this.parentSpan,
      this.startUs,
      this.attempt,
      this.webhookId,
      result,
      outcome,
      this.destination,
      this.url,
    );
  }
}

/** A URL as spans carry it: origin and path, no query or credentials. */
function spanUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '';
  }
}

/** Low-cardinality error.type of a failed attempt: the status code, or the transport error's name. */
export function errorType(result: Exclude<DeliveryResult, { kind: 'delivered' }>): string {
  if (result.statusCode !== null) return String(result.statusCode);
  const head = result.error.split(':')[0]?.trim() ?? '';
  return /^[A-Za-z_]+$/.test(head) ? head : 'error';
}
