/**
 * The worker pool's finished spans (delivery attempts and claim rounds) cross to the export
 * thread as binary records in shared memory: the delivery thread writes each record's fields
 * into a block it owns, hands the full block over with a message of two numbers, and gets it
 * back once read. Nothing is copied or cloned on the way, and no string is built per attempt.
 * Text rows cost the delivery thread 4 µs per message (a template, a concatenation, a copy per
 * batch); these cost well under one, and a round costs a few dozen bytes where an SDK span
 * cost the delivery thread its object, its serialization and its export (docs/decisions.md, "Traces").
 *
 * Records, little-endian, after a flags byte (1 = has a parent, 2 = failed, 4 = a round):
 * - an attempt: trace id (16 bytes), span id (8), parent span id (8, when it has one), start
 *   and end (f64, whole microseconds since the epoch), attempt (u32), status code (i32, -1: no
 *   answer), outcome (u8), then u16-length-prefixed UTF-8: the webhook id, and when failed the
 *   error type and message;
 * - a round (a root span that did not fail): trace id (16), span id (8), start and end (f64),
 *   messages claimed (u32), outcomes stored (u32).
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
/** the bytes of a round's record */
export const ROUND_BYTES = 1 + 16 + 8 + 8 + 8 + 4 + 4;
/** the longest error message a record carries, in characters */
export const MAX_ERROR_CHARS = 200;

/** The most bytes a record with these strings can take (UTF-8: at most 3 bytes per UTF-16 unit). */
export function recordBound(webhookId: string, errorType: string, errorMessage: string): number {
  return (
    1 + 16 + 8 + 8 + 8 + 8 + 4 + 4 + 1 + 6 + 3 * (webhookId.length + errorType.length + errorMessage.length)
  );
}

function writeString(b: Buffer, pos: number, s: string): number {
  const n = b.write(s, pos + 2, 'utf8');
  b.writeUInt16LE(n, pos);
  return pos + 2 + n;
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
): number {
  b[pos] = (parentSpanId ? HAS_PARENT : 0) | (errorType ? FAILED : 0);
  let p = pos + 1;
  p += b.write(traceId, p, 16, 'hex');
  p += b.write(spanId, p, 8, 'hex');
  if (parentSpanId) p += b.write(parentSpanId, p, 8, 'hex');
  p = b.writeDoubleLE(startUs, p);
  p = b.writeDoubleLE(endUs, p);
  p = b.writeUInt32LE(attempt >>> 0, p);
  p = b.writeInt32LE(statusCode, p);
  b[p++] = OUTCOME_INDEX.get(outcome) ?? 2;
  p = writeString(b, p, webhookId);
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
  b[pos] = ROUND;
  let p = pos + 1;
  p += b.write(traceId, p, 16, 'hex');
  p += b.write(spanId, p, 8, 'hex');
  p = b.writeDoubleLE(startUs, p);
  p = b.writeDoubleLE(endUs, p);
  p = b.writeUInt32LE(claimed >>> 0, p);
  return b.writeUInt32LE(stored >>> 0, p);
}

/** The most bytes a row's record takes. */
export function rowBound(r: SpanRow): number {
  return r.kind === 'round' ? ROUND_BYTES : recordBound(r.webhookId, r.errorType, r.errorMessage);
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
  );
}

/** The records of a block's first `length` bytes. */
export function readRows(b: Buffer, length: number): SpanRow[] {
  const rows: SpanRow[] = [];
  let p = 0;
  const str = (): string => {
    const n = b.readUInt16LE(p);
    const s = b.toString('utf8', p + 2, p + 2 + n);
    p += 2 + n;
    return s;
  };
  while (p < length) {
    const flags = b[p++] ?? 0;
    const traceId = b.toString('hex', p, p + 16);
    p += 16;
    const spanId = b.toString('hex', p, p + 8);
    p += 8;
    if (flags & ROUND) {
      const round: RoundRow = {
        kind: 'round',
        traceId,
        spanId,
        startUs: b.readDoubleLE(p),
        endUs: b.readDoubleLE(p + 8),
        claimed: b.readUInt32LE(p + 16),
        stored: b.readUInt32LE(p + 20),
      };
      rows.push(round);
      p += 24;
      continue;
    }
    let parentSpanId = '';
    if (flags & HAS_PARENT) {
      parentSpanId = b.toString('hex', p, p + 8);
      p += 8;
    }
    const startUs = b.readDoubleLE(p);
    const endUs = b.readDoubleLE(p + 8);
    const attempt = b.readUInt32LE(p + 16);
    const statusCode = b.readInt32LE(p + 20);
    const outcome = OUTCOMES[b[p + 24] ?? 2] ?? 'failed';
    p += 25;
    const webhookId = str();
    const errorType = flags & FAILED ? str() : '';
    const errorMessage = flags & FAILED ? str() : '';
    const row: AttemptRow = {
      kind: 'attempt',
      traceId,
      spanId,
      parentSpanId,
      startUs,
      endUs,
      attempt,
      webhookId,
      statusCode,
      outcome,
      errorType,
      errorMessage,
    };
    rows.push(row);
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
