/**
 * The hand-written path (`tracing.poolExporter: encoder`, http/protobuf): the records encoded by
 * AttemptEncoder as they arrive, sent by the SDK's HTTP export delegate. This is the one file that
 * uses the exporter package's experimental 0.x building blocks (`createOtlpHttpExportDelegate`,
 * `convertLegacyHttpOptions` from `@opentelemetry/otlp-exporter-base/node-http`): the packages are
 * pinned to one version in package.json, and test/otlp-encoder.test.ts checks those functions are
 * there and that a request through them reaches a receiver.
 */
import { getNumberFromEnv } from '@opentelemetry/core';
import { envDefault } from '../config/keys.js';
import { AttemptEncoder } from './attempt-encoder.js';
import type { SpanOrigin, SpanSender } from './span-sender.js';

/** An encoded request and how many spans it holds. */
interface Batch {
  body: Uint8Array;
  count: number;
}

/**
 * OTLP/protobuf over HTTP: the records encoded by AttemptEncoder as they arrive, sent by the
 * SDK's HTTP export delegate in batches as the SDK's BatchSpanProcessor makes them (OTEL_BSP_*:
 * at most the batch size, after at most the schedule delay; past the queue size waiting or
 * being sent, spans are dropped).
 */
export async function encoderSender(origin: SpanOrigin): Promise<SpanSender> {
  const { resource, scope, shared } = origin;
  const { OTLPExporterBase } = await import('@opentelemetry/otlp-exporter-base');
  const { createOtlpHttpExportDelegate, convertLegacyHttpOptions } =
    await import('@opentelemetry/otlp-exporter-base/node-http');
  const { ProtobufTraceSerializer } = await import('@opentelemetry/otlp-transformer');
  await resource.waitForAsyncAttributes?.();
  const encoder = new AttemptEncoder(resource.attributes, scope, shared);
  const exporter = new OTLPExporterBase<Batch>(
    createOtlpHttpExportDelegate(
      convertLegacyHttpOptions({}, 'TRACES', 'v1/traces', { 'Content-Type': 'application/x-protobuf' }),
      {
        serializeRequest: (batch: Batch) => batch.body,
        deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
      },
      'otlp_http_span_exporter',
      { name: 'span', countItems: (batch: Batch) => batch.count },
      undefined,
    ),
  );
  const delayMs =
    getNumberFromEnv('OTEL_BSP_SCHEDULE_DELAY') ?? Number(envDefault('OTEL_BSP_SCHEDULE_DELAY'));
  const batchSize =
    getNumberFromEnv('OTEL_BSP_MAX_EXPORT_BATCH_SIZE') ??
    Number(envDefault('OTEL_BSP_MAX_EXPORT_BATCH_SIZE'));
  const maxQueue =
    getNumberFromEnv('OTEL_BSP_MAX_QUEUE_SIZE') ?? Number(envDefault('OTEL_BSP_MAX_QUEUE_SIZE'));
  let timer: NodeJS.Timeout | null = null;
  let sending = 0;
  const inFlight = new Set<Promise<void>>();
  const send = (): void => {
    if (timer) clearTimeout(timer);
    timer = null;
    if (encoder.pending === 0) return;
    const count = encoder.pending;
    const body = encoder.take();
    sending += count;
    // a failed export is dropped, as the SDK's processor drops it
    const done = new Promise<void>((resolve) => exporter.export({ body, count }, () => resolve()));
    inFlight.add(done);
    void done.then(() => {
      inFlight.delete(done);
      sending -= count;
    });
  };
  return {
    addBlock(b, length) {
      let p = 0;
      while (p < length) {
        const room = Math.min(batchSize - encoder.pending, maxQueue - sending - encoder.pending);
        if (room <= 0) return; // the receiver is behind: the rest are dropped
        p = encoder.append(b, p, length, room);
        if (encoder.pending >= batchSize) send();
      }
      if (encoder.pending > 0) timer ??= setTimeout(send, delayMs);
    },
    async shutdown() {
      send();
      await Promise.all(inFlight);
      await exporter.shutdown();
    },
  };
}
