import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { readRows } from './span-records.js';
import { toReadableSpan } from './readable-span.js';
import type { SpanOrigin, SpanSender } from './span-sender.js';

/**
 * The SDK path (`tracing.poolExporter: sdk`, and always for http/json and grpc): each record read
 * back as a ReadableSpan and given to the SDK's BatchSpanProcessor with the SDK's OTLP exporter for
 * the protocol (OTEL_EXPORTER_OTLP_* and OTEL_BSP_* apply as in any SDK).
 */
export async function sdkSender(
  protocol: 'http/protobuf' | 'http/json' | 'grpc',
  origin: SpanOrigin,
): Promise<SpanSender> {
  const exporter: SpanExporter =
    protocol === 'grpc'
      ? new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter()
      : protocol === 'http/json'
        ? new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter()
        : new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter();
  const processor = new BatchSpanProcessor(exporter);
  return {
    addBlock(b, length) {
      for (const row of readRows(b, length)) {
        processor.onEnd(toReadableSpan(row, origin.resource, origin.scope, origin.shared));
      }
    },
    shutdown: () => processor.shutdown(),
  };
}
