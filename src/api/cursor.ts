import { AppError } from '../errors/codes.js';
import { ID_PATTERN } from '../domain/ids.js';
import type { Cursor } from '../store/store.js';

/** Opaque paging cursors: base64url of [sort time in ms, id]. */
export function encodeCursor(c: Cursor): string {
  const keys: unknown[] = [c.at.getTime(), c.id];
  // the due order's other keys
  if (c.priority !== undefined) keys.push(c.priority, c.created?.getTime() ?? 0);
  return Buffer.from(JSON.stringify(keys)).toString('base64url');
}

export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && (parsed.length === 2 || parsed.length === 4)) {
      const [t, id, priority, created] = parsed as unknown[];
      const time = (x: unknown): Date | null =>
        typeof x === 'number' && Number.isFinite(x) && !Number.isNaN(new Date(x).getTime())
          ? new Date(x)
          : null;
      const at = time(t);
      if (at && typeof id === 'string' && ID_PATTERN.test(id)) {
        if (parsed.length === 2) return { at, id };
        const createdAt = time(created);
        if (Number.isInteger(priority) && createdAt)
          return { at, id, priority: priority as number, created: createdAt };
      }
    }
  } catch {
    // fall through
  }
  throw new AppError(
    'INVALID_CURSOR',
    'cursor is not one this service issued; use the Link rel="next" header',
  );
}

/** RFC 8288 Link header for the next page, keeping the other query parameters. */
export function nextLink(
  path: string,
  params: Record<string, string | number | undefined>,
  next: Cursor | null,
): string | null {
  if (!next) return null;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && k !== 'cursor') q.set(k, String(v));
  q.set('cursor', encodeCursor(next));
  return `<${path}?${q.toString()}>; rel="next"`;
}
