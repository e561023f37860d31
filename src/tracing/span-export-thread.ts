/**
 * Runs in a worker thread: exports the delivery attempts and claim rounds PoolSpans records
 * (span-records.ts), so encoding and sending spans costs the delivery thread nothing. The records
 * go out through one of two senders (span-sender.ts), as `tracing.poolExporter` says: the
 * hand-written encoder (export-encoder.ts, http/protobuf) or the SDK (export-sdk.ts, any protocol).
 */
import { parentPort, workerData } from 'node:worker_threads';
import {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  processDetector,
  resourceFromAttributes,
} from '@opentelemetry/resources';
import type { ExportThreadData, ToExportThread } from './pool-spans.js';
import { takeBlocks } from './span-records.js';
import { urlAttributes } from './readable-span.js';
import { sdkSender } from './export-sdk.js';
import { encoderSender } from './export-encoder.js';

if (!parentPort) throw new Error('span-export-thread.ts must run in a worker thread');
const port = parentPort;
const { config, version, webhookUrl, blocks, lengths } = workerData as ExportThreadData;
const views = blocks.map((sab) => Buffer.from(sab));

// the resource NodeSDK gives the main thread's spans: the same process, so the same attributes
const resource = defaultResource()
  .merge(detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
  .merge(resourceFromAttributes({ 'service.name': config.serviceName }));
const origin = { resource, scope: { name: 'message-scheduler', version }, shared: urlAttributes(webhookUrl) };

const sender =
  config.protocol === 'http/protobuf' && config.poolExporter === 'encoder'
    ? await encoderSender(origin)
    : await sdkSender(config.protocol, origin);

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
