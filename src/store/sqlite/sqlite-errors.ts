import type { ClassifyStoreError } from '../store-errors.js';

/**
 * better-sqlite3's errors (`SqliteError.code`, SQLite's extended result codes) and the file
 * system's when the database file cannot be opened, as store error codes.
 */
export const sqliteErrorCode: ClassifyStoreError = (err) => {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string') return null;
  if (code === 'SQLITE_FULL') return 'full';
  // the lock was still held when busy_timeout ran out
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'timeout';
  if (/^SQLITE_(IOERR|CANTOPEN|READONLY|CORRUPT|NOTADB|PERM)/.test(code)) return 'unavailable';
  if (['ENOENT', 'ENOTDIR', 'EACCES', 'EROFS', 'EIO', 'ENOSPC'].includes(code)) {
    return code === 'ENOSPC' ? 'full' : 'unavailable';
  }
  if (code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY') return 'conflict';
  if (/^SQLITE_(CONSTRAINT|TOOBIG|MISMATCH|RANGE)/.test(code)) return 'invalid';
  return null;
};
