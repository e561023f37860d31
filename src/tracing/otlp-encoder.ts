/**
 * OTLP/protobuf for the two span shapes the export thread sends (delivery attempts and claim rounds), written
 * straight from the attempt records in their shared blocks (span-records.ts): the resource, the scope and the attributes every
 * attempt shares are encoded once, so a span costs its ids, times and a few attributes. The
 * bytes are the ones the SDK's serializer writes for the same span (test/otlp-encoder.test.ts
 * compares them); it stays the encoder for everything else (docs/decisions.md, "Traces").
 * Field numbers: opentelemetry/proto/trace/v1/trace.proto and common/v1/common.proto.
 */
import {
  SpanKind,
  SpanStatusCode,
  TraceFlags,
  type AttributeValue,
  type Attributes,
  type HrTime,
} from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  FAILED,
  HAS_PARENT,
  OUTCOMES,
  ROUND,
  ROUND_BYTES,
  rowBound,
  writeRow,
  type SpanRow,
} from './span-records.js';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

function varintSize(v: number): number {
  let n = 1;
  while (v >= 0x80) {
    v = Math.floor(v / 0x80);
    n++;
  }
  return n;
}

/** A growable buffer with protobuf's primitive writes. */
export class ProtoWriter {
  buf = Buffer.allocUnsafe(4096);
  pos = 0;

  reset(): void {
    this.pos = 0;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** a non-negative integer below 2^53, or a negative one as int64 (ten bytes) */
  varint(v: number): void {
    this.room(10);
    if (v >= 0 && v < 0x80) {
      // most of them: lengths, tags, small counts
      this.buf[this.pos++] = v;
      return;
    }
    if (v < 0) {
      const big = BigInt.asUintN(64, BigInt(v));
      let x = big;
      while (x >= 0x80n) {
        this.buf[this.pos++] = Number(x & 0x7fn) | 0x80;
        x >>= 7n;
      }
      this.buf[this.pos++] = Number(x);
      return;
    }
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  raw(bytes: Uint8Array): void {
    this.room(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** `src[start, end)` (ids and short strings byte by byte: a native copy costs more) */
  copyFrom(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.room(n);
    if (n <= 32) {
      const buf = this.buf;
      let p = this.pos;
      for (let i = start; i < end; i++) buf[p++] = src[i] as number;
      this.pos = p;
      return;
    }
    // a view and TypedArray set: Buffer.copy() takes a slower path for a part of its source
    this.buf.set(src.subarray(start, end), this.pos);
    this.pos += n;
  }

  lengthDelimited(bytes: Uint8Array): void {
    this.varint(bytes.length);
    this.raw(bytes);
  }

  string(s: string): void {
    const n = Buffer.byteLength(s);
    this.varint(n);
    this.room(n);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  fixed32(v: number): void {
    this.room(4);
    this.pos = this.buf.writeUInt32LE(v >>> 0, this.pos);
  }

  /** whole microseconds since the epoch, as fixed64 nanoseconds */
  fixed64Micros(us: number): void {
    this.room(8);
    // us × 1000 is past 2^53: multiplied in two 32-bit halves, each product exact
    const lowTimes1000 = (us % 0x1_0000_0000) * 1000;
    const high = Math.floor(us / 0x1_0000_0000) * 1000 + Math.floor(lowTimes1000 / 0x1_0000_0000);
    this.pos = this.buf.writeUInt32LE(lowTimes1000 % 0x1_0000_0000, this.pos);
    this.pos = this.buf.writeUInt32LE(high >>> 0, this.pos);
  }

  double(v: number): void {
    this.room(8);
    this.pos = this.buf.writeDoubleLE(v, this.pos);
  }

  /** a copy of what was written */
  bytes(): Buffer {
    const out = Buffer.allocUnsafe(this.pos);
    out.set(this.buf.subarray(0, this.pos));
    return out;
  }
}

/** A message encoded on its own (start-up only: the shared parts). */
function message(write: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter();
  write(w);
  return w.bytes();
}

function anyValue(w: ProtoWriter, v: AttributeValue | undefined): void {
  if (typeof v === 'string') {
    w.tag(1, WIRE_LEN);
    w.string(v);
  } else if (typeof v === 'boolean') {
    w.tag(2, WIRE_VARINT);
    w.varint(v ? 1 : 0);
  } else if (typeof v === 'number') {
    if (Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER) {
      w.tag(3, WIRE_VARINT);
      w.varint(v);
    } else {
      w.tag(4, WIRE_FIXED64);
      w.double(v);
    }
  } else if (Array.isArray(v)) {
    w.tag(5, WIRE_LEN);
    w.lengthDelimited(
      message((a) => {
        for (const item of v) {
          a.tag(1, WIRE_LEN);
          a.lengthDelimited(message((x) => anyValue(x, item ?? undefined)));
        }
      }),
    );
  }
}

/** `attributes` as repeated KeyValue in field `field`, in their order. */
export function encodeAttributes(attributes: Attributes, field: number): Buffer {
  return message((w) => {
    for (const [key, value] of Object.entries(attributes)) {
      if (value === undefined) continue;
      w.tag(field, WIRE_LEN);
      w.lengthDelimited(
        message((kv) => {
          kv.tag(1, WIRE_LEN);
          kv.string(key);
          kv.tag(2, WIRE_LEN);
          kv.lengthDelimited(message((a) => anyValue(a, value)));
        }),
      );
    }
  });
}

/** A Span.attributes KeyValue up to its AnyValue's contents, which are `any` bytes long. */
function keyValueHead(w: ProtoWriter, key: Buffer, any: number): void {
  w.tag(9, WIRE_LEN);
  w.varint(1 + varintSize(key.length) + key.length + 1 + varintSize(any) + any);
  w.byte(0x0a);
  w.lengthDelimited(key);
  w.byte(0x12);
  w.varint(any);
}

/** KeyValue{key, AnyValue{string_value}}, the value `src[start, end)`. */
function stringAttribute(w: ProtoWriter, key: Buffer, src: Buffer, start: number, end: number): void {
  const n = end - start;
  keyValueHead(w, key, 1 + varintSize(n) + n);
  w.byte(0x0a);
  w.varint(n);
  w.copyFrom(src, start, end);
}

/** KeyValue{key, AnyValue{int_value}} */
function intAttribute(w: ProtoWriter, key: Buffer, value: number): void {
  keyValueHead(w, key, 1 + varintSize(value));
  w.byte(0x18);
  w.varint(value);
}

const KEY = {
  attempt: Buffer.from('message_scheduler.attempt'),
  webhookId: Buffer.from('message_scheduler.webhook.id'),
  outcome: Buffer.from('message_scheduler.outcome'),
  statusCode: Buffer.from('http.response.status_code'),
  errorType: Buffer.from('error.type'),
  claimed: Buffer.from('message_scheduler.claimed'),
  stored: Buffer.from('message_scheduler.outcomes_stored'),
};

const OUTCOME_BYTES = OUTCOMES.map((o) => Buffer.from(o));
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
      const trace = p + 1;
      const span = trace + 16;
      if (flags & ROUND) {
        this.round(b, trace, span);
        p += ROUND_BYTES;
        added++;
        continue;
      }
      const parent = flags & HAS_PARENT ? span + 8 : -1;
      let q = span + (parent >= 0 ? 16 : 8);
      const startUs = b.readDoubleLE(q);
      const endUs = b.readDoubleLE(q + 8);
      const attempt = b.readUInt32LE(q + 16);
      const statusCode = b.readInt32LE(q + 20);
      const outcome = OUTCOME_BYTES[b[q + 24] ?? 2] ?? UNKNOWN_OUTCOME;
      q += 25;
      const webhookAt = q + 2;
      const webhookEnd = webhookAt + b.readUInt16LE(q);
      q = webhookEnd;
      let typeAt = -1;
      let typeEnd = -1;
      let messageAt = -1;
      let messageEnd = -1;
      if (flags & FAILED) {
        typeAt = q + 2;
        typeEnd = typeAt + b.readUInt16LE(q);
        messageAt = typeEnd + 2;
        messageEnd = messageAt + b.readUInt16LE(typeEnd);
        q = messageEnd;
      }
      const s = this.start(b, trace, span);
      if (parent >= 0) {
        s.tag(4, WIRE_LEN);
        s.byte(8);
        s.copyFrom(b, parent, parent + 8);
      }
      s.raw(ATTEMPT_NAME_KIND);
      s.tag(7, WIRE_FIXED64);
      s.fixed64Micros(startUs);
      s.tag(8, WIRE_FIXED64);
      s.fixed64Micros(endUs);
      s.raw(this.shared);
      intAttribute(s, KEY.attempt, attempt);
      stringAttribute(s, KEY.webhookId, b, webhookAt, webhookEnd);
      stringAttribute(s, KEY.outcome, outcome, 0, outcome.length);
      if (statusCode >= 0) intAttribute(s, KEY.statusCode, statusCode);
      if (typeAt >= 0) stringAttribute(s, KEY.errorType, b, typeAt, typeEnd);
      this.tail(s, typeAt >= 0, messageAt, messageEnd, b, parent >= 0);
      p = q;
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

  /** A round's span from its record (its trace id at `trace`, its span id at `span`). */
  private round(b: Buffer, trace: number, span: number): void {
    const q = span + 8;
    const s = this.start(b, trace, span);
    s.raw(ROUND_NAME_KIND);
    s.tag(7, WIRE_FIXED64);
    s.fixed64Micros(b.readDoubleLE(q));
    s.tag(8, WIRE_FIXED64);
    s.fixed64Micros(b.readDoubleLE(q + 8));
    intAttribute(s, KEY.claimed, b.readUInt32LE(q + 16));
    intAttribute(s, KEY.stored, b.readUInt32LE(q + 20));
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

/** The attributes every attempt to `webhookUrl` carries: no credentials or query string (they can hold a receiver's token). */
export function urlAttributes(webhookUrl: string): Attributes {
  const u = new URL(webhookUrl);
  return {
    'http.request.method': 'POST',
    'server.address': u.hostname,
    'server.port': Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
    'url.full': `${u.origin}${u.pathname}`,
  };
}

/** Whole microseconds as HrTime. */
const hr = (us: number): HrTime => {
  const s = Math.floor(us / 1e6);
  return [s, (us - s * 1e6) * 1000];
};

/** A row as the SDK's exporters take a span: the same span AttemptEncoder writes. */
export function toReadableSpan(
  r: SpanRow,
  resource: Resource,
  scope: { name: string; version: string },
  shared: Attributes,
): ReadableSpan {
  const origin = { resource, instrumentationScope: scope };
  if (r.kind === 'round')
    return finishedSpan(r, 'claim round', SpanKind.INTERNAL, origin, {
      attributes: { 'message_scheduler.claimed': r.claimed, 'message_scheduler.outcomes_stored': r.stored },
      status: { code: SpanStatusCode.UNSET },
    });
  const attributes: Attributes = {
    ...shared,
    'message_scheduler.attempt': r.attempt,
    'message_scheduler.webhook.id': r.webhookId,
    'message_scheduler.outcome': r.outcome,
  };
  if (r.statusCode >= 0) attributes['http.response.status_code'] = r.statusCode;
  if (r.errorType) attributes['error.type'] = r.errorType;
  return finishedSpan(r, 'POST', SpanKind.CLIENT, origin, {
    attributes,
    status: r.errorType
      ? { code: SpanStatusCode.ERROR, message: r.errorMessage }
      : { code: SpanStatusCode.UNSET },
    ...(r.parentSpanId
      ? {
          parentSpanContext: {
            traceId: r.traceId,
            spanId: r.parentSpanId,
            traceFlags: TraceFlags.SAMPLED,
            isRemote: true,
          },
        }
      : {}),
  });
}

/** An ended, sampled span of a row's ids and times, without events or links. */
function finishedSpan(
  r: { traceId: string; spanId: string; startUs: number; endUs: number },
  name: string,
  kind: SpanKind,
  origin: Pick<ReadableSpan, 'resource' | 'instrumentationScope'>,
  rest: Pick<ReadableSpan, 'attributes' | 'status' | 'parentSpanContext'>,
): ReadableSpan {
  const context = { traceId: r.traceId, spanId: r.spanId, traceFlags: TraceFlags.SAMPLED };
  return {
    name,
    kind,
    spanContext: () => context,
    startTime: hr(r.startUs),
    endTime: hr(r.endUs),
    duration: hr(r.endUs - r.startUs),
    links: [],
    events: [],
    ended: true,
    droppedAttributesCount: 0,
    droppedEventsCount: 0,
    droppedLinksCount: 0,
    ...origin,
    ...rest,
  };
}
