import type { Attributes } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';

/**
 * How the export thread sends the pool's span records: one interface, two adapters, chosen by
 * `tracing.poolExporter` (span-export-thread.ts): the SDK's processor and exporter
 * (export-sdk.ts), or the hand-written encoder (export-encoder.ts).
 */
export interface SpanSender {
  /** Takes the records of `b[0, length)`; the block is written again once this returns. */
  addBlock(b: Buffer, length: number): void;
  /** Sends what is buffered and stops. */
  shutdown(): Promise<void>;
}

/** What every span of the pool shares. */
export interface SpanOrigin {
  resource: Resource;
  scope: { name: string; version: string };
  /** the attributes of the webhook URL every attempt carries */
  shared: Attributes;
}
