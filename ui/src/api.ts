/**
 * The API as the dashboard calls it: same origin, the credential the operator gave (kept for this
 * tab only, in sessionStorage: never a cookie, so no request carries it unasked), JSON both ways.
 */
const STORAGE_KEY = 'message-scheduler.credential';

export function credential(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function setCredential(value: string | null): void {
  if (value === null) sessionStorage.removeItem(STORAGE_KEY);
  else sessionStorage.setItem(STORAGE_KEY, value);
}

/** An answer that is not 2xx: the API's `{error, code, details}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Answer<T> {
  data: T;
  /** the next page's path and query, from the Link header */
  next: string | null;
}

/** The API root: the dashboard is at <root>/ui/, so the API is one level up from the page. */
const ROOT = new URL('../', location.href);

export async function call<T>(method: string, path: string, body?: unknown): Promise<Answer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const key = credential();
  if (key) headers.authorization = `Bearer ${key}`;
  // a POST says it is JSON even when empty: without credentials (protected mode) the API asks it
  if (method !== 'GET' && method !== 'DELETE') headers['content-type'] = 'application/json';
  const res = await fetch(new URL(path.replace(/^\//, ''), ROOT), {
    method,
    headers,
    credentials: 'omit',
    ...(method !== 'GET' && method !== 'DELETE' ? { body: JSON.stringify(body ?? {}) } : {}),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!res.ok) {
    const e = (json ?? {}) as { error?: unknown; code?: unknown };
    throw new ApiError(
      res.status,
      typeof e.code === 'string' ? e.code : `HTTP_${res.status}`,
      typeof e.error === 'string' ? e.error : `${res.status} ${res.statusText}`,
    );
  }
  return { data: json as T, next: nextLink(res.headers.get('link')) };
}

function nextLink(link: string | null): string | null {
  const m = link ? /<([^>]*)>\s*;\s*rel="next"/.exec(link) : null;
  return m?.[1] ?? null;
}

/** A query parameter of a next link (the messages' cursor, kept in the page's URL). */
export function linkParam(next: string | null, name: string): string | null {
  return next ? new URL(next, 'http://x').searchParams.get(name) : null;
}

export const get = <T>(path: string) => call<T>('GET', path).then((a) => a.data);
export const post = <T>(path: string, body?: unknown) => call<T>('POST', path, body).then((a) => a.data);
export const put = <T>(path: string, body?: unknown) => call<T>('PUT', path, body).then((a) => a.data);
export const del = <T>(path: string) => call<T>('DELETE', path).then((a) => a.data);

/** A query string from the values that are set. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params))
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
