/**
 * Runs in a worker thread: turns the delivery attempts AttemptSpans records into spans and
 * hands them to the SDK's BatchSpanProcessor and OTLP exporter (OTEL_BSP_*, OTEL_EXPORTER_OTLP_*
 * apply as everywhere), so encoding and sending spans costs the delivery thread nothing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { SpanKind, SpanStatusCode, TraceFlags, type Attributes, type HrTime } from '@opentelemetry/api';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import { FIELDS, type ExportThreadData, type ToExportThread } from './attempt-spans.js';

if (!parentPort) throw new Error('span-export-thread.ts must run in a worker thread');
const port = parentPort;
const { config, version, webhookUrl } = workerData as ExportThreadData;

async function exporterFor(protocol: ExportThreadData['config']['protocol']): Promise<SpanExporter> {
  if (protocol === 'grpc')
    return new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter();
  if (protocol === 'http/json')
    return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
}

// the resource NodeSDK gives the main thread's spans: the same process, so the same attributes
const resource = defaultResource()
  .merge(detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
  .merge(resourceFromAttributes({ 'service.name': config.serviceName }));
const scope = { name: 'message-scheduler', version };
const u = new URL(webhookUrl);
// no credentials or query string in a span: they can hold a receiver's token
const urlAttributes: Attributes = {
  'http.request.method': 'POST',
  'server.address': u.hostname,
  'server.port': Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
  'url.full': `${u.origin}${u.pathname}`,
};

const hr = (ms: number): HrTime => {
  const s = Math.floor(ms / 1000);
  return [s, Math.round((ms - s * 1000) * 1e6)];
};

/** One line of AttemptSpans' batch as a span; null if it is not one (never expected). */
function toSpan(line: string): ReadableSpan | null {
  const f = line.split('\t');
  if (f.length !== FIELDS.length) return null;
  const [
    traceId = '',
    spanId = '',
    parentSpanId,
    start,
    end,
    attemptText,
    webhookId = '',
    code,
    outcome = '',
    errorType,
    error,
  ] = f;
  const startMs = Number(start);
  const endMs = Number(end);
  const attempt = Number(attemptText);
  const statusCode = Number(code);
  const attributes: Attributes = {
    ...urlAttributes,
    'message_scheduler.attempt': attempt,
    'message_scheduler.webhook.id': webhookId,
    'message_scheduler.outcome': outcome,
  };
  if (statusCode >= 0) attributes['http.response.status_code'] = statusCode;
  if (errorType) attributes['error.type'] = errorType;
  const context = { traceId, spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name: 'POST',
    kind: SpanKind.CLIENT,
    spanContext: () => context,
    ...(parentSpanId
      ? {
          parentSpanContext: {
            traceId,
            spanId: parentSpanId,
            traceFlags: TraceFlags.SAMPLED,
            isRemote: true,
          },
        }
      : {}),
    startTime: hr(startMs),
    endTime: hr(endMs),
    duration: hr(endMs - startMs),
    status: errorType ? { code: SpanStatusCode.ERROR, message: error ?? '' } : { code: SpanStatusCode.UNSET },
    attributes,
    links: [],
    events: [],
    ended: true,
    resource,
    instrumentationScope: scope,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
  };
}

const processor = new BatchSpanProcessor(await exporterFor(config.protocol));

port.on('message', (msg: ToExportThread) => {
  if (msg.type === 'close') {
    void processor.shutdown().finally(() => port.close());
    return;
  }
  for (const line of msg.lines.split('\n')) {
    const span = line ? toSpan(line) : null;
    if (span) processor.onEnd(span);
  }
});
