/**
 * A protobuf writer for the OTLP messages the span encoder writes (attempt-encoder.ts): varints,
 * fixed-width numbers, length-delimited fields, and OTLP's KeyValue attributes.
 * Field numbers: opentelemetry/proto/common/v1/common.proto.
 */
import type { AttributeValue, Attributes } from '@opentelemetry/api';

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_LEN = 2;
export const WIRE_FIXED32 = 5;

export function varintSize(v: number): number {
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
export function message(write: (w: ProtoWriter) => void): Buffer {
  const w = new ProtoWriter();
  write(w);
  return w.bytes();
}

export function anyValue(w: ProtoWriter, v: AttributeValue | undefined): void {
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
export function keyValueHead(w: ProtoWriter, key: Buffer, any: number): void {
  w.tag(9, WIRE_LEN);
  w.varint(1 + varintSize(key.length) + key.length + 1 + varintSize(any) + any);
  w.byte(0x0a);
  w.lengthDelimited(key);
  w.byte(0x12);
  w.varint(any);
}

/** KeyValue{key, AnyValue{string_value}}, the value `src[start, end)`. */
export function stringAttribute(w: ProtoWriter, key: Buffer, src: Buffer, start: number, end: number): void {
  const n = end - start;
  keyValueHead(w, key, 1 + varintSize(n) + n);
  w.byte(0x0a);
  w.varint(n);
  w.copyFrom(src, start, end);
}

/** KeyValue{key, AnyValue{int_value}} */
export function intAttribute(w: ProtoWriter, key: Buffer, value: number): void {
  keyValueHead(w, key, 1 + varintSize(value));
  w.byte(0x18);
  w.varint(value);
}
