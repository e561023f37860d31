/**
 * Each adapter's sorting of its driver's errors into the store error codes, for the cases a test
 * server cannot be made to produce on demand (a full disk, a lock timeout), and the guard that
 * turns a driver error into a StoreError at the seam. The contract suite checks the codes the
 * servers do produce (test/contract/store-contract.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guardStore, StoreError, storeErrorCode, type StoreErrorCode } from '../src/store/store-errors.js';
import { sqliteErrorCode } from '../src/store/sqlite/sqlite-errors.js';
import { postgresErrorCode } from '../src/store/postgres/postgres-errors.js';
import { mongoErrorCode } from '../src/store/mongo/mongo-errors.js';

const withCode = (code: unknown, message = 'x'): Error => Object.assign(new Error(message), { code });
const named = (name: string, extra: Record<string, unknown> = {}): Error =>
  Object.assign(new Error('x'), { name, ...extra });

test('SQLite: full, timeout, unavailable, conflict, invalid, and nothing else', () => {
  const cases: Array<[unknown, StoreErrorCode | null]> = [
    [withCode('SQLITE_FULL'), 'full'],
    [withCode('ENOSPC'), 'full'],
    [withCode('SQLITE_BUSY'), 'timeout'],
    [withCode('SQLITE_BUSY_SNAPSHOT'), 'timeout'],
    [withCode('SQLITE_IOERR_WRITE'), 'unavailable'],
    [withCode('SQLITE_CANTOPEN'), 'unavailable'],
    [withCode('ENOTDIR'), 'unavailable'],
    [withCode('SQLITE_CONSTRAINT_UNIQUE'), 'conflict'],
    [withCode('SQLITE_CONSTRAINT_PRIMARYKEY'), 'conflict'],
    [withCode('SQLITE_CONSTRAINT_NOTNULL'), 'invalid'],
    [withCode('SQLITE_CONSTRAINT_TRIGGER'), 'invalid'],
    [withCode('SQLITE_TOOBIG'), 'invalid'],
    [withCode('SQLITE_ERROR'), null],
    [new TypeError('The database connection is not open'), null],
  ];
  for (const [err, code] of cases) assert.equal(sqliteErrorCode(err), code, String((err as Error).message));
});

test('PostgreSQL: by SQLSTATE, socket error and pool message', () => {
  const cases: Array<[unknown, StoreErrorCode | null]> = [
    [withCode('53100'), 'full'],
    [withCode('57014'), 'timeout'],
    [withCode('55P03'), 'timeout'],
    [new Error('timeout exceeded when trying to connect'), 'timeout'],
    [withCode('08006'), 'unavailable'],
    [withCode('57P01'), 'unavailable'],
    [withCode('53300'), 'unavailable'],
    [withCode('ECONNREFUSED'), 'unavailable'],
    [new Error('Connection terminated unexpectedly'), 'unavailable'],
    [withCode('23505'), 'conflict'],
    [withCode('23502'), 'invalid'],
    [withCode('22021'), 'invalid'],
    [withCode('22003'), 'invalid'],
    [withCode('54000'), 'invalid'],
    [withCode('42P01'), null], // undefined_table: a bug, not the client's value
    [withCode('42601'), null],
  ];
  for (const [err, code] of cases) assert.equal(postgresErrorCode(err), code, String((err as Error).message));
});

test('MongoDB: by error class, server code and bulk write rows', () => {
  const cases: Array<[unknown, StoreErrorCode | null]> = [
    [named('MongoServerSelectionError'), 'unavailable'],
    [named('MongoNetworkError'), 'unavailable'],
    [named('MongoTopologyClosedError'), 'unavailable'],
    [named('MongoNetworkTimeoutError'), 'timeout'],
    [named('MongoServerError', { code: 50 }), 'timeout'],
    [named('MongoServerError', { code: 14031 }), 'full'],
    [named('MongoServerError', { code: 11000 }), 'conflict'],
    [named('MongoServerError', { code: 121 }), 'invalid'],
    [named('BSONError'), 'invalid'],
    [named('MongoBulkWriteError', { writeErrors: [{ code: 11000 }, { code: 11000 }] }), 'conflict'],
    [named('MongoBulkWriteError', { writeErrors: [{ code: 11000 }, { code: 2 }] }), 'invalid'],
    [named('MongoBulkWriteError', { writeErrors: [{ code: 11000 }, { code: 8 }] }), null],
    [named('MongoServerError', { code: 26 }), null], // NamespaceNotFound
  ];
  for (const [err, code] of cases) assert.equal(mongoErrorCode(err), code, JSON.stringify(err));
});

test('the guard turns driver errors into StoreError, sync or async, and leaves the rest alone', async () => {
  const inner = {
    seen: [] as unknown[],
    async rejects(): Promise<void> {
      throw withCode('SQLITE_FULL', 'database or disk is full');
    },
    throws(): void {
      throw withCode('SQLITE_BUSY');
    },
    bug(): void {
      throw new TypeError('a bug');
    },
    /** a method calling another sees the driver's error, not the StoreError */
    async calls(): Promise<string> {
      try {
        await this.rejects();
        return 'none';
      } catch (err) {
        return String((err as { code?: unknown }).code);
      }
    },
    value: 42,
  };
  const guarded = guardStore(inner, sqliteErrorCode);
  await assert.rejects(guarded.rejects(), (err: unknown) => {
    assert.ok(err instanceof StoreError);
    assert.equal(err.code, 'full');
    assert.equal(err.message, 'SQLITE_FULL: database or disk is full');
    assert.equal((err.cause as { code?: unknown }).code, 'SQLITE_FULL');
    return true;
  });
  assert.throws(
    () => guarded.throws(),
    (err: unknown) => storeErrorCode(err) === 'timeout',
  );
  assert.throws(() => guarded.bug(), TypeError);
  assert.equal(await guarded.calls(), 'SQLITE_FULL');
  assert.equal(guarded.value, 42);
  assert.equal(guarded.rejects, guarded.rejects, 'one wrapper per method');
});
