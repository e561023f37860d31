/**
 * The worker pool's finished spans (delivery attempts and claim rounds) cross to the export
 * thread as binary records in shared memory: the delivery thread writes each record's fields
 * into a block it owns, hands the full block over with a message of two numbers, and gets it
 * back once read. Nothing is copied or cloned on the way, and no string is built per attempt.
 * Text rows cost the delivery thread 4 µs per message (a template, a concatenation, a copy per
 * batch); these cost well under one, and a round costs a few dozen bytes where an SDK span
 * cost the delivery thread its object, its serialization and its export (docs/decisions.md, "Traces").
 *
 * The records' layout is defined once, below (ATTEMPT_FIELDS, ROUND_FIELDS): the writers, the
 * reader and the OTLP encoder (attempt-encoder.ts) all take their offsets from it.
 */
/** One delivery attempt as the export thread reads it (below), times in whole microseconds. */
export interface AttemptRow {
  kind: 'attempt';
  traceId: string;
  spanId: string;
  parentSpanId: string;
  startUs: number;
  endUs: number;
  attempt: number;
  webhookId: string;
  statusCode: number;
  outcome: string;
  errorType: string;
  errorMessage: string;
  /** the destination's id and URL (no query), when the attempt went to one other than `default` ('' otherwise) */
  destination: string;
  url: string;
}

/** One claim round that claimed or stored something (a root span), times in whole microseconds. */
export interface RoundRow {
  kind: 'round';
  traceId: string;
  spanId: string;
  startUs: number;
  endUs: number;
  claimed: number;
  stored: number;
}

export type SpanRow = AttemptRow | RoundRow;

export const OUTCOMES = ['sent', 'retry', 'failed', 'unknown', 'invalid_content'] as const;
const OUTCOME_INDEX = new Map<string, number>(OUTCOMES.map((o, i) => [o, i]));

export const HAS_PARENT = 1;
export const FAILED = 2;
export const ROUND = 4;
/** an attempt to a destination other than `default`: its id and URL follow the webhook id */
export const ROUTED = 8;
/** the longest error message a record carries, in characters */
export const MAX_ERROR_CHARS = 200;

/**
 * THE RECORD LAYOUT, defined once: the fixed fields of each kind of record in order, with their
 * sizes in bytes, after the flags byte. The writers below, the reader below and the OTLP encoder
 * (attempt-encoder.ts) all take their offsets from the layouts made of these lists.
 * Numbers are little-endian: ids raw bytes, times f64 (whole microseconds), counts u32, the
 * status code i32 (-1: no answer), the outcome a u8 index into OUTCOMES. An attempt's record
 * then holds u16-length-prefixed UTF-8 strings: the webhook id, when ROUTED the destination id
 * and URL, and when FAILED the error type and message.
 */
const ATTEMPT_FIELDS = [
  ['traceId', 16],
  ['spanId', 8],
  /** only with HAS_PARENT */
  ['parentSpanId', 8],
  ['startUs', 8],
  ['endUs', 8],
  ['attempt', 4],
  ['statusCode', 4],
  ['outcome', 1],
] as const;
const ROUND_FIELDS = [
  ['traceId', 16],
  ['spanId', 8],
  ['startUs', 8],
  ['endUs', 8],
  ['claimed', 4],
  ['stored', 4],
] as const;

type Fields = readonly (readonly [string, number])[];
/** Offsets from the record's start (the flags byte is at 0), and `size`: the fixed part's bytes. */
export type Layout<F extends Fields> = { readonly [K in F[number][0]]: number } & { readonly size: number };

function layout<F extends Fields>(fields: F, skip?: F[number][0]): Layout<F> {
  const out: Record<string, number> = {};
  let at = 1;
  for (const [name, bytes] of fields) {
    if (name === skip) {
      out[name] = -1;
      continue;
    }
    out[name] = at;
    at += bytes;
  }
  out.size = at;
  return out as Layout<F>;
}

export type AttemptLayout = Layout<typeof ATTEMPT_FIELDS>;
/** An attempt's layout: with a parent span id, or without (its offset is then -1). */
export const ATTEMPT_LAYOUT = {
  parent: layout(ATTEMPT_FIELDS),
  root: layout(ATTEMPT_FIELDS, 'parentSpanId'),
} as const;
export const ROUND_LAYOUT = layout(ROUND_FIELDS);
/** the bytes of a round's record */
export const ROUND_BYTES = ROUND_LAYOUT.size;

/** An attempt's layout for its flags. */
export function attemptLayout(flags: number): AttemptLayout {
  return flags & HAS_PARENT ? ATTEMPT_LAYOUT.parent : ATTEMPT_LAYOUT.root;
}

/** The most bytes a record with these strings can take (UTF-8: at most 3 bytes per UTF-16 unit). */
export function recordBound(
  webhookId: string,
  errorType: string,
  errorMessage: string,
  destination = '',
  url = '',
): number {
  return (
    ATTEMPT_LAYOUT.parent.size +
    5 * 2 +
    3 * (webhookId.length + errorType.length + errorMessage.length + destination.length + url.length)
  );
}

function writeString(b: Buffer, pos: number, s: string): number {
  const n = b.write(s, pos + 2, 'utf8');
  b.writeUInt16LE(n, pos);
  return pos + 2 + n;
}

/** Where the string at `at` (u16 length, then its bytes) starts and ends. */
export function stringAt(b: Buffer, at: number): { start: number; end: number } {
  const start = at + 2;
  return { start, end: start + b.readUInt16LE(at) };
}

/** Writes one record at `pos` (room for recordBound() is there); returns the position after it. */
export function writeAttempt(
  b: Buffer,
  pos: number,
  traceId: string,
  spanId: string,
  parentSpanId: string,
  startUs: number,
  endUs: number,
  attempt: number,
  statusCode: number,
  outcome: string,
  webhookId: string,
  errorType: string,
  errorMessage: string,
  destination = '',
  url = '',
): number {
  const flags = (parentSpanId ? HAS_PARENT : 0) | (errorType ? FAILED : 0) | (destination ? ROUTED : 0);
  const l = attemptLayout(flags);
  b[pos] = flags;
  b.write(traceId, pos + l.traceId, 16, 'hex');
  b.write(spanId, pos + l.spanId, 8, 'hex');
  if (parentSpanId) b.write(parentSpanId, pos + l.parentSpanId, 8, 'hex');
  b.writeDoubleLE(startUs, pos + l.startUs);
  b.writeDoubleLE(endUs, pos + l.endUs);
  b.writeUInt32LE(attempt >>> 0, pos + l.attempt);
  b.writeInt32LE(statusCode, pos + l.statusCode);
  b[pos + l.outcome] = OUTCOME_INDEX.get(outcome) ?? 2;
  let p = writeString(b, pos + l.size, webhookId);
  if (destination) {
    p = writeString(b, p, destination);
    p = writeString(b, p, url);
  }
  if (errorType) {
    p = writeString(b, p, errorType);
    p = writeString(b, p, errorMessage.slice(0, MAX_ERROR_CHARS));
  }
  return p;
}

/** Writes a round's record at `pos` (ROUND_BYTES of room); returns the position after it. */
export function writeRound(
  b: Buffer,
  pos: number,
  traceId: string,
  spanId: string,
  startUs: number,
  endUs: number,
  claimed: number,
  stored: number,
): number {
  const l = ROUND_LAYOUT;
  b[pos] = ROUND;
  b.write(traceId, pos + l.traceId, 16, 'hex');
  b.write(spanId, pos + l.spanId, 8, 'hex');
  b.writeDoubleLE(startUs, pos + l.startUs);
  b.writeDoubleLE(endUs, pos + l.endUs);
  b.writeUInt32LE(claimed >>> 0, pos + l.claimed);
  b.writeUInt32LE(stored >>> 0, pos + l.stored);
  return pos + l.size;
}

/** The most bytes a row's record takes. */
export function rowBound(r: SpanRow): number {
  return r.kind === 'round'
    ? ROUND_BYTES
    : recordBound(r.webhookId, r.errorType, r.errorMessage, r.destination, r.url);
}

/** writeAttempt() or writeRound() for a row in object form (the encoder's one-off requests, tests). */
export function writeRow(b: Buffer, pos: number, r: SpanRow): number {
  if (r.kind === 'round')
    return writeRound(b, pos, r.traceId, r.spanId, r.startUs, r.endUs, r.claimed, r.stored);
  return writeAttempt(
    b,
    pos,
    r.traceId,
    r.spanId,
    r.parentSpanId,
    r.startUs,
    r.endUs,
    r.attempt,
    r.statusCode,
    r.outcome,
    r.webhookId,
    r.errorType,
    r.errorMessage,
    r.destination,
    r.url,
  );
}

/** The records of a block's first `length` bytes. */
export function readRows(b: Buffer, length: number): SpanRow[] {
  const rows: SpanRow[] = [];
  let p = 0;
  const str = (at: number): { text: string; next: number } => {
    const { start, end } = stringAt(b, at);
    return { text: b.toString('utf8', start, end), next: end };
  };
  const pair = (at: number): { first: string; second: string; next: number } => {
    const a = str(at);
    const z = str(a.next);
    return { first: a.text, second: z.text, next: z.next };
  };
  while (p < length) {
    const flags = b[p] ?? 0;
    if (flags & ROUND) {
      const l = ROUND_LAYOUT;
      rows.push({
        kind: 'round',
        traceId: b.toString('hex', p + l.traceId, p + l.traceId + 16),
        spanId: b.toString('hex', p + l.spanId, p + l.spanId + 8),
        startUs: b.readDoubleLE(p + l.startUs),
        endUs: b.readDoubleLE(p + l.endUs),
        claimed: b.readUInt32LE(p + l.claimed),
        stored: b.readUInt32LE(p + l.stored),
      });
      p += l.size;
      continue;
    }
    const l = attemptLayout(flags);
    const webhook = str(p + l.size);
    // the optional string pairs, in order: destination and URL, then error type and message
    const routed = flags & ROUTED ? pair(webhook.next) : { first: '', second: '', next: webhook.next };
    const failed = flags & FAILED ? pair(routed.next) : { first: '', second: '', next: routed.next };
    rows.push({
      kind: 'attempt',
      traceId: b.toString('hex', p + l.traceId, p + l.traceId + 16),
      spanId: b.toString('hex', p + l.spanId, p + l.spanId + 8),
      parentSpanId: l.parentSpanId >= 0 ? b.toString('hex', p + l.parentSpanId, p + l.parentSpanId + 8) : '',
      startUs: b.readDoubleLE(p + l.startUs),
      endUs: b.readDoubleLE(p + l.endUs),
      attempt: b.readUInt32LE(p + l.attempt),
      webhookId: webhook.text,
      statusCode: b.readInt32LE(p + l.statusCode),
      outcome: OUTCOMES[b[p + l.outcome] ?? 2] ?? 'failed',
      errorType: failed.first,
      errorMessage: failed.second,
      destination: routed.first,
      url: routed.second,
    });
    p = failed.next;
  }
  return rows;
}

/**
 * The delivery thread's side of the shared blocks, one being written at a time. Handing a
 * block over is storing its length (`lengths[i] > 0`: the export thread's to read); the export
 * thread gives it back by storing 0 (takeBlocks). No message crosses either way: a message
 * wakes the other thread and, on a machine with few cores, the woken thread can take the
 * core of the one that woke it, so the export thread polls on its own clock instead
 * (docs/decisions.md, "Traces"). With no free block a record is dropped: spans are best
 * effort, deliveries are not.
 */
export class BlockPool {
  readonly buffers: SharedArrayBuffer[];
  /** per block: 0 free (the delivery thread's), else the length handed over (the export thread's) */
  readonly lengths: Int32Array;
  private readonly views: Buffer[];
  private current = -1;
  /** where the search for a free block starts: blocks are used in turn */
  private next = 0;
  pos = 0;
  dropped = 0;

  constructor(
    private readonly blockBytes: number,
    blocks: number,
  ) {
    this.buffers = Array.from({ length: blocks }, () => new SharedArrayBuffer(blockBytes));
    this.views = this.buffers.map((sab) => Buffer.from(sab));
    this.lengths = new Int32Array(new SharedArrayBuffer(4 * blocks));
  }

  /** The block to write `bytes` into at `this.pos`, or null when every block is taken. */
  reserve(bytes: number): Buffer | null {
    if (this.current >= 0 && this.pos + bytes > this.blockBytes) this.flush();
    if (this.current < 0) {
      const n = this.views.length;
      for (let k = 0; k < n; k++) {
        const i = (this.next + k) % n;
        if (Atomics.load(this.lengths, i) === 0) {
          this.current = i;
          this.next = (i + 1) % n;
          break;
        }
      }
      if (this.current < 0) {
        this.dropped++;
        return null;
      }
      this.pos = 0;
    }
    return this.views[this.current] ?? null;
  }

  /** Hands the block being written over, if it holds anything. */
  flush(): void {
    if (this.current < 0 || this.pos === 0) return;
    Atomics.store(this.lengths, this.current, this.pos);
    this.current = -1;
    this.pos = 0;
  }
}

/**
 * The export thread's side: calls `read(block, length)` for every block handed over, then
 * gives it back. Returns how many it read.
 */
export function takeBlocks(
  views: readonly Buffer[],
  lengths: Int32Array,
  read: (b: Buffer, length: number) => void,
): number {
  let taken = 0;
  for (let i = 0; i < views.length; i++) {
    const length = Atomics.load(lengths, i);
    if (length === 0) continue;
    read(views[i] as Buffer, length);
    Atomics.store(lengths, i, 0);
    taken++;
  }
  return taken;
}
