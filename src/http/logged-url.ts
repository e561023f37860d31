/** Query parameters whose values a log line may show: the API's own, none of them a secret. */
const SHOWN = new Set(['limit', 'cursor', 'status']);

/**
 * A request URL as log lines give it: the path, and the query with the value of any parameter
 * the API does not define replaced by `[redacted]`. A client that pastes a key into the URL
 * (`?api_key=ms_...`, `?access_token=...`) does not find it in the debug log.
 */
export function loggedUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const parts: string[] = [];
  for (const [k, v] of new URLSearchParams(url.slice(q + 1))) {
    parts.push(`${encodeURIComponent(k)}=${SHOWN.has(k) ? encodeURIComponent(v) : '[redacted]'}`);
  }
  return `${url.slice(0, q)}?${parts.join('&')}`;
}
