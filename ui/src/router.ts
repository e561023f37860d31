import { useEffect, useState } from 'preact/hooks';

/** The screen and its filters, from the URL's fragment: `#/messages?status=failed` (shareable). */
export interface Route {
  path: string[];
  query: URLSearchParams;
}

export function parseHash(hash: string): Route {
  const raw = hash.replace(/^#\/?/, '');
  const i = raw.indexOf('?');
  const path = (i >= 0 ? raw.slice(0, i) : raw).split('/').filter(Boolean).map(decodeURIComponent);
  return { path, query: new URLSearchParams(i >= 0 ? raw.slice(i + 1) : '') };
}

export function href(path: string, query?: Record<string, string | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {}))
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return `#/${path}${s ? `?${s}` : ''}`;
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseHash(location.hash));
  useEffect(() => {
    const on = () => setRoute(parseHash(location.hash));
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return route;
}

export function go(to: string): void {
  location.hash = to.startsWith('#') ? to.slice(1) : to;
}
