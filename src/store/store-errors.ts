/**
 * The one error every store adapter throws: a `StoreError` with a stable code, whatever the
 * driver underneath. Each adapter sorts its driver's errors into these codes in its own file
 * (sqlite/sqlite-errors.ts, postgres/postgres-errors.ts, mongo/mongo-errors.ts) and wraps itself
 * with `guardStore`, so callers above the seam (the API, the worker pool, seeding, the cluster)
 * read `err.code`, never a driver's name, SQLSTATE or message. The contract suite checks that every
 * adapter throws the same code for the same case (test/contract/store-contract.ts).
 */
import type { NewMessage } from '../domain/message.js';
import { textProblem } from '../domain/text.js';

export const STORE_ERROR_CODES = {
  /** the database does not answer (down, unreachable, the connection dropped): retry later */
  unavailable: 'the store did not answer',
  /** it answered too late (a lock or statement timeout): retry later */
  timeout: 'the store did not answer in time',
  /** out of space: nothing was written; retry once space is freed */
  full: 'the store is out of space',
  /** a unique key exists already: the same call fails the same way */
  conflict: 'the store holds this key already',
  /** it refused a value of the call (text it cannot keep, a number out of range, a row too large) */
  invalid: 'the store refused a value',
} as const;

export type StoreErrorCode = keyof typeof STORE_ERROR_CODES;

/** Sorts a driver's error; null: not the store's (a bug of ours), thrown as it is. */
export type ClassifyStoreError = (err: unknown) => StoreErrorCode | null;

export class StoreError extends Error {
  override name = 'StoreError';
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a driver said, in a short line safe for a log or an answer: its code and message. */
function driverLine(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  const code = e?.code === undefined ? '' : `${String(e.code)}: `;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const line = `${code}${message}`.split('\n')[0] ?? '';
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/** `err` as a StoreError when `classify` knows it; otherwise unchanged (a bug shows as itself). */
export function toStoreError(err: unknown, classify: ClassifyStoreError): unknown {
  if (err instanceof StoreError) return err;
  const code = classify(err);
  return code === null ? err : new StoreError(code, driverLine(err), { cause: err });
}

/**
 * `target` with every method's errors sorted by `classify`: thrown synchronously or as a rejected
 * promise, a driver error leaves as a StoreError. Methods run on the adapter itself, so its own
 * calls between methods still see its driver's errors.
 */
export function guardStore<T extends object>(target: T, classify: ClassifyStoreError): T {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function' || prop === 'constructor') return value;
      let fn = wrapped.get(prop);
      if (fn === undefined) {
        const method = value as (...args: unknown[]) => unknown;
        fn = (...args: unknown[]): unknown => {
          try {
            const result = method.apply(t, args);
            return result instanceof Promise
              ? result.catch((err: unknown) => {
                  throw toStoreError(err, classify);
                })
              : result;
          } catch (err) {
            throw toStoreError(err, classify);
          }
        };
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });
}

/** The store error's code, or null for any other error. */
export function storeErrorCode(err: unknown): StoreErrorCode | null {
  return err instanceof StoreError ? err.code : null;
}

/**
 * The store refused a value of this call (or a key it holds already): the same call fails the same
 * way every time, so the caller isolates the value instead of retrying it (docs/decisions.md, "A row
 * a store refuses holds back nothing else").
 */
export function isRefusedValue(err: unknown): boolean {
  const code = storeErrorCode(err);
  return code === 'invalid' || code === 'conflict';
}

/** What a store refused, in a short line safe for a log or an answer. */
export function refusal(err: unknown): string {
  return err instanceof StoreError ? err.message : driverLine(err);
}

/**
 * Every adapter's `create()` refuses text no store keeps (src/domain/text.ts) before writing, so
 * the same message is refused alike everywhere (PostgreSQL would refuse a NUL itself, SQLite and
 * MongoDB would keep it).
 */
export function checkNewMessages(messages: readonly NewMessage[]): void {
  messages.forEach((m, i) => {
    for (const field of ['content', 'recipient_phone_number', 'idempotency_key'] as const) {
      const text = m[field];
      const problem = typeof text === 'string' ? textProblem(text) : null;
      if (problem !== null) {
        throw new StoreError('invalid', `message ${i}: ${field} ${problem}`);
      }
    }
  });
}
