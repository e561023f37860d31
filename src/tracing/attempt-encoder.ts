/**
 * OTLP/protobuf for the two span shapes the export thread sends (delivery attempts and claim
 * rounds), written straight from the records in their shared blocks (span-records.ts, whose
 * layout gives every offset read here): the resource, the scope and the attributes every attempt
 * shares are encoded once, so a span costs its ids, times and a few attributes. The bytes are the
 * ones the SDK's serializer writes for the same span (test/otlp-encoder.test.ts compares them).
 * The `encoder` pool exporter (export-encoder.ts) sends them; docs/decisions.md, "Traces".
 * Field numbers: opentelemetry/proto/trace/v1/trace.proto.
 */
import type { Attributes } from '@opentelemetry/api';
import { DEFAULT_DESTINATION_ID } from '../domain/destination.js';
import { urlAttributes } from './readable-span.js';
import {
  attemptLayout,
  FAILED,
  OUTCOMES,
  ROUND,
  ROUTED,
  ROUND_LAYOUT,
  rowBound,
  stringAt,
  writeRow,
  type SpanRow,
} from './span-records.js';
import {
  encodeAttributes,
  intAttribute,
  message,
  ProtoWriter,
  stringAttribute,
  varintSize,
  WIRE_FIXED32,
  WIRE_FIXED64,
  WIRE_LEN,
  WIRE_VARINT,
} from './proto-writer.js';

const KEY = {
  destination: Buffer.from('message_scheduler.destination'),
  attempt: Buffer.from('message_scheduler.attempt'),
  webhookId: Buffer.from('message_scheduler.webhook.id'),
  outcome: Buffer.from('message_scheduler.outcome'),
  statusCode: Buffer.from('http.response.status_code'),
  errorType: Buffer.from('error.type'),
  claimed: Buffer.from('message_scheduler.claimed'),
  stored: Buffer.from('message_scheduler.outcomes_stored'),
};

const OUTCOME_BYTES = OUTCOMES.map((o) => Buffer.from(o));
const DEFAULT_DESTINATION = Buffer.from(DEFAULT_DESTINATION_ID);
/** the URL attributes of a destination's spans, encoded once per URL (a bounded cache) */
const MAX_URLS = 1000;
const UNKNOWN_OUTCOME = Buffer.from('failed');
/** Span.name and Span.kind (OTLP's kinds are the API's plus one: CLIENT 3, INTERNAL 1) */
const nameAndKind = (name: string, kind: number): Buffer =>
  message((w) => {
    w.tag(5, WIRE_LEN);
    w.string(name);
    w.tag(6, WIRE_VARINT);
    w.varint(kind);
  });
const ATTEMPT_NAME_KIND = nameAndKind('POST', 3);
const ROUND_NAME_KIND = nameAndKind('claim round', 1);
/** dropped attributes, events and links: none */
const NONE_DROPPED = message((w) => {
  for (const field of [10, 12, 14]) {
    w.tag(field, WIRE_VARINT);
    w.varint(0);
  }
});
const STATUS_ERROR = 2;
/** Span.flags: W3C sampled, and "whether the parent is remote" is known */
const FLAGS_SAMPLED = 0x01;
const FLAGS_HAS_IS_REMOTE = 0x100;
const FLAGS_IS_REMOTE = 0x200;

/**
 * ExportTraceServiceRequest bodies for batches of attempt and round rows, all under one resource and
 * scope. `shared` are the attributes every attempt carries first (the webhook URL's).
 */
export class AttemptEncoder {
  private readonly resource: Buffer;
  private readonly scope: Buffer;
  private readonly shared: Buffer;
  private readonly spans = new ProtoWriter();
  private readonly span = new ProtoWriter();
  private readonly out = new ProtoWriter();

  constructor(resource: Attributes, scope: { name: string; version: string }, shared: Attributes) {
    // ResourceSpans.resource: Resource{attributes, dropped_attributes_count = 0}
    this.resource = message((w) => {
      w.tag(1, WIRE_LEN);
      w.lengthDelimited(
        message((r) => {
          r.raw(encodeAttributes(resource, 1));
          r.tag(2, WIRE_VARINT);
          r.varint(0);
        }),
      );
    });
    // ScopeSpans.scope: InstrumentationScope{name, version}
    this.scope = message((w) => {
      w.tag(1, WIRE_LEN);
      w.lengthDelimited(
        message((s) => {
          s.tag(1, WIRE_LEN);
          s.string(scope.name);
          if (scope.version) {
            s.tag(2, WIRE_LEN);
            s.string(scope.version);
          }
        }),
      );
    });
    this.shared = encodeAttributes(shared, 9);
  }

  private readonly byUrl = new Map<string, Buffer>();

  /** The URL attributes of a destination's span (what `shared` is for the configured webhook). */
  private urlAttributes(url: string): Buffer {
    let encoded = this.byUrl.get(url);
    if (!encoded) {
      if (this.byUrl.size >= MAX_URLS) this.byUrl.clear();
      encoded = encodeAttributes(urlAttributes(url), 9);
      this.byUrl.set(url, encoded);
    }
    return encoded;
  }

  /** spans appended and not yet taken */
  get pending(): number {
    return this.count;
  }
  private count = 0;

  /**
   * Appends the spans of the records in `b[from, length)` (span-records.ts), at most `max`;
   * returns where the next record starts.
   */
  append(b: Buffer, from: number, length: number, max: number): number {
    let p = from;
    let added = 0;
    while (p < length && added < max) {
      const flags = b[p] ?? 0;
      if (flags & ROUND) {
        this.round(b, p);
        p += ROUND_LAYOUT.size;
        added++;
        continue;
      }
      // every offset from the record layout (span-records.ts)
      const l = attemptLayout(flags);
      const outcome = OUTCOME_BYTES[b[p + l.outcome] ?? 2] ?? UNKNOWN_OUTCOME;
      const statusCode = b.readInt32LE(p + l.statusCode);
      const webhook = stringAt(b, p + l.size);
      const dest = flags & ROUTED ? stringAt(b, webhook.end) : null;
      const url = dest ? stringAt(b, dest.end) : null;
      const afterIds = url ? url.end : webhook.end;
      const type = flags & FAILED ? stringAt(b, afterIds) : null;
      const msg = type ? stringAt(b, type.end) : null;
      const s = this.start(b, p + l.traceId, p + l.spanId);
      if (l.parentSpanId >= 0) {
        s.tag(4, WIRE_LEN);
        s.byte(8);
        s.copyFrom(b, p + l.parentSpanId, p + l.parentSpanId + 8);
      }
      s.raw(ATTEMPT_NAME_KIND);
      s.tag(7, WIRE_FIXED64);
      s.fixed64Micros(b.readDoubleLE(p + l.startUs));
      s.tag(8, WIRE_FIXED64);
      s.fixed64Micros(b.readDoubleLE(p + l.endUs));
      if (dest && url) {
        s.raw(this.urlAttributes(b.toString('utf8', url.start, url.end)));
        stringAttribute(s, KEY.destination, b, dest.start, dest.end);
      } else {
        s.raw(this.shared);
        stringAttribute(s, KEY.destination, DEFAULT_DESTINATION, 0, DEFAULT_DESTINATION.length);
      }
      intAttribute(s, KEY.attempt, b.readUInt32LE(p + l.attempt));
      stringAttribute(s, KEY.webhookId, b, webhook.start, webhook.end);
      stringAttribute(s, KEY.outcome, outcome, 0, outcome.length);
      if (statusCode >= 0) intAttribute(s, KEY.statusCode, statusCode);
      if (type) stringAttribute(s, KEY.errorType, b, type.start, type.end);
      this.tail(s, type !== null, msg ? msg.start : -1, msg ? msg.end : -1, b, l.parentSpanId >= 0);
      p = msg ? msg.end : afterIds;
      added++;
    }
    this.count += added;
    return p;
  }

  /** A span begun: its trace id (16 bytes at `b[trace]`) and span id (8 at `b[span]`). */
  private start(b: Buffer, trace: number, span: number): ProtoWriter {
    const s = this.span;
    s.reset();
    s.tag(1, WIRE_LEN);
    s.byte(16);
    s.copyFrom(b, trace, trace + 16);
    s.tag(2, WIRE_LEN);
    s.byte(8);
    s.copyFrom(b, span, span + 8);
    return s;
  }

  /** A round's span from its record at `p`. */
  private round(b: Buffer, p: number): void {
    const l = ROUND_LAYOUT;
    const s = this.start(b, p + l.traceId, p + l.spanId);
    s.raw(ROUND_NAME_KIND);
    s.tag(7, WIRE_FIXED64);
    s.fixed64Micros(b.readDoubleLE(p + l.startUs));
    s.tag(8, WIRE_FIXED64);
    s.fixed64Micros(b.readDoubleLE(p + l.endUs));
    intAttribute(s, KEY.claimed, b.readUInt32LE(p + l.claimed));
    intAttribute(s, KEY.stored, b.readUInt32LE(p + l.stored));
    this.tail(s, false, -1, -1, b);
  }

  /**
   * The span's end, then the span into the batch: no dropped attributes, events or links; the
   * status (an error's message `b[messageAt, messageEnd)`); the flags.
   */
  private tail(
    s: ProtoWriter,
    failed: boolean,
    messageAt: number,
    messageEnd: number,
    b: Buffer,
    remote = false,
  ): void {
    s.raw(NONE_DROPPED);
    // Status{message, code}
    const n = messageAt >= 0 ? messageEnd - messageAt : 0;
    s.tag(15, WIRE_LEN);
    s.varint((n > 0 ? 1 + varintSize(n) + n : 0) + 2);
    if (n > 0) {
      s.tag(2, WIRE_LEN);
      s.varint(n);
      s.copyFrom(b, messageAt, messageEnd);
    }
    s.tag(3, WIRE_VARINT);
    s.varint(failed ? STATUS_ERROR : 0);
    s.tag(16, WIRE_FIXED32);
    s.fixed32(FLAGS_SAMPLED | FLAGS_HAS_IS_REMOTE | (remote ? FLAGS_IS_REMOTE : 0));
    this.spans.tag(2, WIRE_LEN);
    this.spans.varint(s.pos);
    this.spans.copyFrom(s.buf, 0, s.pos);
  }

  /** The ExportTraceServiceRequest of the spans appended since the last take. */
  take(): Uint8Array {
    const spans = this.spans;
    const scopeSpans = this.scope.length + spans.pos;
    const resourceSpans = this.resource.length + 1 + varintSize(scopeSpans) + scopeSpans;
    const out = this.out;
    out.reset();
    out.tag(1, WIRE_LEN);
    out.varint(resourceSpans);
    out.raw(this.resource);
    out.tag(2, WIRE_LEN);
    out.varint(scopeSpans);
    out.raw(this.scope);
    out.copyFrom(spans.buf, 0, spans.pos);
    spans.reset();
    this.count = 0;
    return out.bytes();
  }

  /** The request for `rows` (written as records first: one path for every span). */
  encode(rows: readonly SpanRow[]): Uint8Array {
    const b = Buffer.alloc(rows.reduce((n, r) => n + rowBound(r), 0));
    let length = 0;
    for (const r of rows) length = writeRow(b, length, r);
    this.append(b, 0, length, rows.length);
    return this.take();
  }
}
