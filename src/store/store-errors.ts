/**
 * What a store's error means, whatever the adapter that threw it: the store is down (retry
 * later), full (retry once space is freed), or it refused a value of this call (retrying the
 * same call fails the same way: isolate the value). Read from the drivers' own codes, in one
 * place, so the API and the worker pool sort errors alike.
 */

/** Errors that mean the store (or Redis) is down, not that the service is broken. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return (
    /^Mongo(ServerSelection|Network|NotConnected|Topology)/.test(e.name ?? '') ||
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      '57P01',
      '57P03',
      '08006',
      '08001',
      '08003',
      'SQLITE_BUSY',
      'SQLITE_IOERR',
    ].includes(e.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error)?.message ?? '')
  );
}

/** The store is out of space: SQLite's disk full, PostgreSQL's disk_full (53100). */
export function isStoreFull(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code === 'SQLITE_FULL' || code === '53100';
}

/** SQLite result codes that refuse a value, not the call as such. */
const SQLITE_REFUSALS = /^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/;
/**
 * PostgreSQL SQLSTATE classes that refuse a value: 22 data exception (`22021` invalid byte
 * sequence, `22P05` untranslatable character, out-of-range numbers), 23 integrity constraint
 * violation, 54 program limit exceeded (`54000`: an index row too large).
 */
const PG_REFUSAL_CLASSES = new Set(['22', '23', '54']);
/**
 * MongoDB server codes that refuse a value: BadValue (2), DocumentValidationFailure (121),
 * BSONObjectTooLarge (10334), KeyTooLong (17280); and the driver's own refusals before sending:
 * BSON serialization errors, a document over the 16 MiB limit.
 */
const MONGO_REFUSALS = new Set([2, 121, 10334, 17280]);

/**
 * The store refused a value of this call (text it cannot keep, a number out of range, a row
 * too large): the same call fails the same way every time, so the caller isolates the value
 * instead of retrying it (docs/decisions.md, "A row a store refuses holds back nothing else").
 */
export function isRefusedValue(err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false;
  const e = err as { name?: string; code?: unknown; writeErrors?: Array<{ code?: unknown }> };
  if (typeof e.code === 'string') {
    if (SQLITE_REFUSALS.test(e.code)) return true;
    if (/^[0-9A-Z]{5}$/.test(e.code) && PG_REFUSAL_CLASSES.has(e.code.slice(0, 2))) return true;
  }
  if (typeof e.code === 'number' && MONGO_REFUSALS.has(e.code)) return true;
  if (e.name === 'BSONError') return true;
  if (
    e.name === 'MongoInvalidArgumentError' &&
    /larger than the maximum size/.test(String((err as Error).message))
  )
    return true;
  // a bulk write: refused when every row it names was refused for its value
  const rows = e.writeErrors;
  return (
    Array.isArray(rows) && rows.length > 0 && rows.every((w) => MONGO_REFUSALS.has(Number(w.code ?? NaN)))
  );
}

/** What a store refused, in a short line safe for a log or an answer: the driver's code and message. */
export function refusal(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = e.code === undefined ? '' : `${String(e.code)}: `;
  const message = typeof e.message === 'string' ? e.message : String(err);
  const line = `${code}${message}`.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
