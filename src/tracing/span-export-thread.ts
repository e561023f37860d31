/**
 * Runs in a worker thread: exports the delivery attempts PoolSpans records (span-records.ts), so encoding and
 * sending spans costs the delivery thread nothing. OTLP/protobuf over HTTP (the default) goes
 * through the SDK's HTTP export delegate (OTEL_EXPORTER_OTLP_* apply: endpoint, headers,
 * timeout, compression, retries) with the rows encoded by AttemptEncoder; the other protocols
 * go through the SDK's exporter for that protocol and its BatchSpanProcessor.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { getNumberFromEnv } from '@opentelemetry/core';
import { envDefault } from '../config/keys.js';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { ExportThreadData, ToExportThread } from './pool-spans.js';
import { readRows, takeBlocks } from './span-records.js';
import { AttemptEncoder, toReadableSpan, urlAttributes } from './otlp-encoder.js';

if (!parentPort) throw new Error('span-export-thread.ts must run in a worker thread');
const port = parentPort;
const { config, version, webhookUrl, blocks, lengths } = workerData as ExportThreadData;
const views = blocks.map((sab) => Buffer.from(sab));

// the resource NodeSDK gives the main thread's spans: the same process, so the same attributes
const resource = defaultResource()
  .merge(detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
  .merge(resourceFromAttributes({ 'service.name': config.serviceName }));
const scope = { name: 'message-scheduler', version };
const shared = urlAttributes(webhookUrl);

interface Sender {
  /** Takes the records of `b[0, length)`; the block is written again once this returns. */
  addBlock(b: Buffer, length: number): void;
  shutdown(): Promise<void>;
}

/** The SDK's exporter and batch processor for the protocols AttemptEncoder does not write. */
async function sdkSender(protocol: 'http/json' | 'grpc'): Promise<Sender> {
  const exporter: SpanExporter =
    protocol === 'grpc'
      ? new (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter()
      : new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter();
  const processor = new BatchSpanProcessor(exporter);
  return {
    addBlock(b, length) {
      for (const row of readRows(b, length)) processor.onEnd(toReadableSpan(row, resource, scope, shared));
    },
    shutdown: () => processor.shutdown(),
  };
}

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
async function protobufSender(): Promise<Sender> {
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

const sender =
  config.protocol === 'http/protobuf' ? await protobufSender() : await sdkSender(config.protocol);

// the blocks handed over are read on this thread's clock, not on a message from the delivery
// thread (span-records.ts): every 25 ms while spans come, every 250 ms while none do
const BUSY_POLL_MS = 25;
const IDLE_POLL_MS = 250;
const read = (b: Buffer, length: number): void => sender.addBlock(b, length);
let poll: NodeJS.Timeout | null = null;
const tick = (): void => {
  const taken = takeBlocks(views, lengths, read);
  poll = setTimeout(tick, taken > 0 ? BUSY_POLL_MS : IDLE_POLL_MS);
};
tick();

port.on('message', (msg: ToExportThread) => {
  if (msg.type !== 'close') return;
  if (poll) clearTimeout(poll);
  takeBlocks(views, lengths, read);
  void sender.shutdown().finally(() => port.close());
});
