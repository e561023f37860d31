import { AppError } from '../errors/codes.js';
import { ID_PATTERN } from '../domain/ids.js';
import type { Cursor } from '../store/store.js';

/** Opaque paging cursors: base64url of [sort time in ms, id]. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify([c.at.getTime(), c.id])).toString('base64url');
}

export function decodeCursor(text: string | undefined): Cursor | undefined {
  if (text === undefined || text === '') return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (Array.isArray(parsed) && parsed.length === 2) {
      const [t, id] = parsed as unknown[];
      if (typeof t === 'number' && Number.isFinite(t) && typeof id === 'string' && ID_PATTERN.test(id)) {
        const at = new Date(t);
        if (!Number.isNaN(at.getTime())) return { at, id };
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
