import type { ClassifyStoreError } from '../store-errors.js';

/** Node's socket errors: the server is not there or the connection dropped. */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EAI_AGAIN',
]);

/**
 * node-postgres' errors as store error codes: the server's SQLSTATE (`err.code`, five characters,
 * the class in the first two), Node's socket errors, and the pool's own messages.
 */
export const postgresErrorCode: ClassifyStoreError = (err) => {
  const code = (err as { code?: unknown })?.code;
  const message = String((err as { message?: unknown })?.message ?? '');
  if (typeof code === 'string') {
    if (NETWORK.has(code)) return 'unavailable';
    if (/^[0-9A-Z]{5}$/.test(code)) {
      if (code === '53100') return 'full'; // disk_full
      // query_canceled (statement_timeout), lock_not_available (lock_timeout)
      if (code === '57014' || code === '55P03') return 'timeout';
      // connection exceptions, admin/crash shutdown, cannot connect now, too many connections
      if (code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300') return 'unavailable';
      if (code === '23505') return 'conflict'; // unique_violation
      // 22 data exception (a NUL, an invalid byte sequence, a number out of range), 23 integrity
      // constraint violation, 54 program limit exceeded (an index row too large)
      if (['22', '23', '54'].includes(code.slice(0, 2))) return 'invalid';
    }
  }
  if (/timeout exceeded when trying to connect|Query read timeout/i.test(message)) return 'timeout';
  if (/Connection terminated|Client has encountered a connection error/i.test(message)) return 'unavailable';
  return null;
};
