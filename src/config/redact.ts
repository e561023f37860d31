import { CONFIG_KEYS, ENV_ONLY, type Secrecy } from './keys.js';

/**
 * Credentials never reach a log line or an error message: a URL's password
 * (any scheme, parsed or not) becomes `***`, and each known secret value is
 * replaced wherever it appears. Which values are secret is said once, by the
 * `secret` flag of each setting in src/config/keys.ts.
 */
const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/)([^/?#@\s"]*?)(?::[^/?#@\s"]*)?@/gi;

export function redactUrl(text: string): string {
  return text.replace(URL_CREDENTIALS, (_m, scheme: string, user: string) =>
    user ? `${scheme}${user}:***@` : `${scheme}***@`,
  );
}

/** A text and its URL-decoded form (a password may be written either way). */
function withDecoded(text: string): string[] {
  try {
    return [text, decodeURIComponent(text)];
  } catch {
    return [text]; // a malformed escape: the raw text is enough
  }
}

/** The secret parts of one setting's value, as its flag says. */
export function secretParts(secrecy: Secrecy, value: string | readonly string[]): string[] {
  const items = typeof value === 'string' ? [value] : value;
  const out: string[] = [];
  for (const v of items) {
    if (v === '') continue;
    if (secrecy === true) {
      // several items may come space-separated (the environment's form of a list)
      out.push(v, ...v.split(/\s+/));
    } else if (secrecy === 'url') {
      const m = /:\/\/[^/?#@\s]*?:([^/?#@\s]*)@/.exec(v);
      if (m?.[1]) out.push(...withDecoded(m[1]));
    } else {
      // `key=value,...`: each value, and in `Bearer <token>` the token alone
      out.push(v);
      for (const pair of v.split(',')) {
        const val = pair.slice(pair.indexOf('=') + 1).trim();
        if (pair.includes('=') && val) {
          out.push(val, ...val.split(/\s+/).filter((w) => w.length >= 8), ...withDecoded(val));
        }
      }
    }
  }
  return out;
}

/** Longest first, so a secret that contains another is replaced whole; short ones would mask too much. */
export function secretList(parts: Iterable<string>): string[] {
  return [...new Set(parts)].filter((s) => s.length >= 3).sort((a, b) => b.length - a.length);
}

/** The secrets held in the environment: every variable whose setting is flagged `secret`. */
export function secretsOf(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const spec of [...CONFIG_KEYS, ...ENV_ONLY]) {
    if (!('secret' in spec)) continue;
    const v = env[spec.env];
    if (v) out.push(...secretParts(spec.secret, v));
  }
  return secretList(out);
}

export function redact(text: string, secrets: readonly string[] = []): string {
  let out = redactUrl(text);
  for (const s of secrets) if (out.includes(s)) out = out.split(s).join('***');
  return out;
}

/**
 * `value` with every string redacted, objects and arrays copied (the caller's are not changed);
 * what a log line carries, walked without recursion on its depth.
 */
export function redactValue(value: unknown, secrets: readonly string[]): unknown {
  if (typeof value === 'string') return redact(value, secrets);
  if (value === null || typeof value !== 'object') return value;
  const seen = new Map<object, unknown>();
  const copy = (v: unknown): unknown => {
    if (typeof v === 'string') return redact(v, secrets);
    if (v === null || typeof v !== 'object') return v;
    if (!Array.isArray(v) && Object.getPrototypeOf(v) !== Object.prototype) return v;
    const known = seen.get(v);
    if (known !== undefined) return known;
    const out: unknown = Array.isArray(v) ? [] : {};
    seen.set(v, out);
    stack.push([v as Record<string, unknown>, out as Record<string, unknown>]);
    return out;
  };
  const stack: Array<[Record<string, unknown>, Record<string, unknown>]> = [];
  const root = copy(value);
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [from, to] = next;
    for (const k of Object.keys(from)) to[k] = copy(from[k]);
  }
  return root;
}
