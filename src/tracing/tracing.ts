import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  context,
  defaultTextMapGetter,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Context,
  type ContextManager,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { TracingConfig } from '../config/tracing-config.js';
import { redact } from '../config/redact.js';
import type { ClaimedMessage } from '../store/store.js';
import { PoolSpans } from './pool-spans.js';
import type { AttemptTrace, PoolTracer } from '../worker/pool-tracer.js';

/**
 * The SDK is process-wide (the OpenTelemetry API holds one tracer provider): apps in one
 * process share it, and the last to close flushes it and takes it down.
 */
let shared: { sdk: NodeSDK; users: number } | null = null;

/**
 * No implicit context: every span here names its parent. The SDK's default context manager
 * (AsyncLocalStorage) would make every promise of the process pay for context propagation:
 * 11 µs per delivered message on SQLite with nothing sampled (docs/decisions.md, "Traces").
 */
class ExplicitContextOnly implements ContextManager {
  active(): Context {
    return ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    _context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return fn.call(thisArg, ...args);
  }
  bind<T>(_context: Context, target: T): T {
    return target;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    return this;
  }
}

function startSdk(config: TracingConfig): void {
  if (shared) {
    shared.users++;
    return;
  }
  const sdk = new NodeSDK({
    serviceName: config.serviceName,
    // traces only: metrics are Prometheus' (GET /metrics), logs are pino's
    metricReaders: [],
    logRecordProcessors: [],
    // no monkey-patching: the spans below are made where the service knows what they mean
    instrumentations: [],
    contextManager: new ExplicitContextOnly(),
  });
  sdk.start();
  shared = { sdk, users: 1 };
}

async function stopSdk(): Promise<void> {
  if (!shared) return;
  if (--shared.users > 0) return;
  const { sdk } = shared;
  shared = null;
  // exports what is buffered; then the API forgets the provider, so a later start registers anew
  await sdk.shutdown().catch(() => undefined);
  trace.disable();
  propagation.disable();
  context.disable();
}

/** `traceparent` of a span, or null when its context is not valid (a non-recording no-op). */
export function traceparentOf(span: Span): string | null {
  const sc = span.spanContext();
  if (!trace.isSpanContextValid(sc)) return null;
  return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** What a log line carries to find its trace. */
export function logIds(span: Span): { trace_id: string; span_id: string } {
  const sc = span.spanContext();
  return { trace_id: sc.traceId, span_id: sc.spanId };
}

/**
 * Spans of this service (docs/decisions.md, "Traces"): a SERVER span per API request, an
 * INTERNAL span per claim round and a CLIENT span per delivery attempt whose parent is the
 * request that created the message, read back from the store. The SDK (NodeSDK, configured
 * by the OTEL_* variables) makes and exports the request spans and failed rounds; attempts and
 * rounds, the delivery path, are recorded as binary records and become spans on a thread of
 * their own (pool-spans.ts).
 */
export class Tracing {
  private readonly tracer: Tracer;
  private closed = false;

  private readonly closers: (() => Promise<void>)[] = [];

  private constructor(
    private readonly config: TracingConfig,
    private readonly version: string,
    private readonly secrets: readonly string[],
  ) {
    this.tracer = trace.getTracer('message-scheduler', version);
  }

  /** `secrets`: values no span may carry (a store error can quote a connection string) */
  static start(config: TracingConfig, version: string, secrets: readonly string[] = []): Tracing {
    startSdk(config);
    return new Tracing(config, version, secrets);
  }

  /** A SERVER span for an API request, continuing the caller's trace when its headers carry one. */
  startRequest(method: string, route: string | undefined, path: string, headers: object): Span {
    const parent = propagation.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
    return this.tracer.startSpan(
      route ? `${method} ${route}` : method,
      {
        kind: SpanKind.SERVER,
        attributes: {
          'http.request.method': method,
          'url.path': path,
          ...(route ? { 'http.route': route } : {}),
        },
      },
      parent,
    );
  }

  /**
   * The worker pool's spans, for deliveries to `webhookUrl`: attempts and claim rounds (one
   * per round, not per message) through PoolSpans, off the delivery path; a round that failed
   * through the SDK, with its exception.
   */
  poolTracer(webhookUrl: string): PoolTracer {
    const spans = new PoolSpans(this.config, this.version, webhookUrl);
    this.closers.push(() => spans.close());
    const tracer = this.tracer;
    const secrets = this.secrets;
    return {
      attempt: (message: ClaimedMessage, attempt: number, url?: string | null): AttemptTrace =>
        spans.start(message, attempt, url),
      round(startedMs: number, claimed: number, stored: number, err?: unknown): void {
        if (err === undefined) {
          // the common case, a record like an attempt's; nothing to say for an empty poll
          if (claimed > 0 || stored > 0) spans.round(startedMs, claimed, stored);
          return;
        }
        // a failed round (rare) carries its exception: the SDK's span
        const span = tracer.startSpan(
          'claim round',
          {
            kind: SpanKind.INTERNAL,
            startTime: startedMs,
            attributes: {
              'message_scheduler.claimed': claimed,
              'message_scheduler.outcomes_stored': stored,
            },
          },
          ROOT_CONTEXT,
        );
        // the name and the redacted message, no stack
        const e = err instanceof Error ? err : new Error(String(err));
        const message = redact(e.message, secrets);
        span.recordException({ name: e.name, message });
        span.setStatus({ code: SpanStatusCode.ERROR, message });
        span.end();
      },
    };
  }

  /** Flushes the spans still buffered (the last app to close stops the SDK). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.closers.map((close) => close()));
    await stopSdk();
  }
}
