import type { ClassifyStoreError } from '../store-errors.js';

/** Server codes that refuse a value: BadValue, DocumentValidationFailure, BSONObjectTooLarge, KeyTooLong. */
const REFUSALS = new Set([2, 121, 10334, 17280]);
const DUPLICATE_KEY = 11000;
/** MaxTimeMSExpired, ExceededTimeLimit */
const TIMEOUTS = new Set([50, 262]);
/** OutOfDiskSpace */
const FULL = new Set([14031]);

/**
 * The MongoDB driver's errors as store error codes: its error classes (by name, so a FerretDB or
 * MongoDB server alike), the server's numeric codes, and bulk writes whose every row was refused.
 */
export const mongoErrorCode: ClassifyStoreError = (err) => {
  if (err === null || typeof err !== 'object') return null;
  const e = err as { name?: unknown; code?: unknown; message?: unknown; writeErrors?: unknown };
  const name = typeof e.name === 'string' ? e.name : '';
  if (/^Mongo(NetworkTimeout|OperationTimeout|WaitQueueTimeout)/.test(name)) return 'timeout';
  if (/^Mongo(ServerSelection|Network|NotConnected|Topology)/.test(name)) return 'unavailable';
  if (typeof e.code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(e.code)) {
    return 'unavailable';
  }
  if (typeof e.code === 'number') {
    if (e.code === DUPLICATE_KEY) return 'conflict';
    if (REFUSALS.has(e.code)) return 'invalid';
    if (TIMEOUTS.has(e.code)) return 'timeout';
    if (FULL.has(e.code)) return 'full';
  }
  if (name === 'BSONError') return 'invalid';
  if (name === 'MongoInvalidArgumentError' && /larger than the maximum size/.test(String(e.message))) {
    return 'invalid';
  }
  // a bulk write: refused when every row it names was refused for its value or its key
  const rows = Array.isArray(e.writeErrors) ? (e.writeErrors as Array<{ code?: unknown }>) : [];
  if (rows.length > 0) {
    const codes = rows.map((w) => Number(w.code ?? NaN));
    if (codes.every((c) => c === DUPLICATE_KEY)) return 'conflict';
    if (codes.every((c) => c === DUPLICATE_KEY || REFUSALS.has(c))) return 'invalid';
  }
  return null;
};
