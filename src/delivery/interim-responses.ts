import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/**
 * RFC 9110 §15.2: a client MUST be able to parse 1xx responses received before the final
 * answer, even unasked. undici destroys the socket on an unsolicited `100 Continue` ("bad
 * response", still so in undici 8.14), so a receiver that sends one before its 202 made every
 * attempt fail although it had accepted the message: delivered three times, recorded failed.
 *
 * This wraps undici's own connector (its TLS, timeouts and keep-alive unchanged) and removes
 * interim responses (1xx other than 101) from the start of each answer, where the bytes are read,
 * before undici's parser sees them. A response starts at the first bytes read after a request
 * line is written: the pool sends one request at a time per connection (pipelining 1).
 * docs/decisions.md, "Interim 1xx answers".
 */
export function interimSkippingConnector(options: buildConnector.BuildOptions): buildConnector.connector {
  const connect = buildConnector(options);
  return (opts, callback) => {
    connect(opts, (...args) => {
      const [err, socket] = args;
      if (err === null) skipInterimResponses(socket);
      callback(...args);
    });
  };
}

/** An interim status line: HTTP/1.x 1xx, except 101 (an upgrade is never asked for). */
const INTERIM = /^HTTP\/1\.[01] 1(?!01)\d\d[ \r]/;
/** What may still turn out to be an interim status line, when fewer bytes have come. */
const INTERIM_PREFIX = 'HTTP/1.x 1';
/** An interim head larger than this is not held: passed on, undici refuses it as before. */
const MAX_INTERIM_HEAD = 16 * 1024;

function mayBeInterim(data: Buffer): boolean {
  const n = Math.min(data.length, INTERIM_PREFIX.length);
  for (let i = 0; i < n; i++) {
    const want = INTERIM_PREFIX.charCodeAt(i);
    // position 7 is the minor version, 0 or 1
    if (i === 7 ? data[i] !== 0x30 && data[i] !== 0x31 : data[i] !== want) return false;
  }
  return true;
}

/**
 * Makes `socket.read()` leave out the interim responses at the start of each answer. Only the
 * start of an answer is looked at; the rest of the bytes pass untouched, at the cost of one
 * check per read.
 */
export function skipInterimResponses(socket: Socket): void {
  /** the next bytes read begin an answer */
  let atStart = false;
  /** the beginning of an interim head whose end has not come yet */
  let held: Buffer | null = null;
  const write = socket.write as (this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown) => boolean;
  // no rest arguments (an array per write) and no regex: a request head is the only string undici
  // writes that starts with a capital letter (its method); bodies start with `{`, chunk sizes with \r
  socket.write = function (this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
    if (typeof chunk === 'string') {
      const first = chunk.charCodeAt(0);
      if (first >= 0x41 && first <= 0x5a) {
        atStart = true;
        held = null;
      }
    }
    return write.call(this, chunk, encoding, cb);
  } as Socket['write'];
  const read = socket.read as (this: Socket, size?: number) => Buffer | null;
  socket.read = function (this: Socket, size?: number): Buffer | null {
    for (;;) {
      const chunk = read.call(this, size);
      if (!atStart) return chunk;
      if (chunk === null) return null;
      let data = held === null ? chunk : Buffer.concat([held, chunk]);
      held = null;
      // interim heads, one after another, each ended by an empty line
      for (;;) {
        if (data.length < INTERIM_PREFIX.length + 3) {
          if (!mayBeInterim(data)) {
            atStart = false;
            return data;
          }
          held = data;
          break;
        }
        // the status's first digit (byte 9 of `HTTP/1.1 202`) first: a final answer costs two byte reads
        if (data[9] !== 0x31 || !INTERIM.test(data.subarray(0, 16).toString('latin1'))) {
          atStart = false;
          return data;
        }
        const end = data.indexOf('\r\n\r\n');
        if (end < 0) {
          if (data.length > MAX_INTERIM_HEAD) {
            atStart = false;
            return data;
          }
          held = data;
          break;
        }
        data = data.subarray(end + 4);
        if (data.length === 0) break;
      }
      // all read so far was interim: read on (null when nothing more has come yet)
    }
  } as Socket['read'];
}
