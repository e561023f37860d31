/**
 * A destination as the API and the CLI take it (snake_case, durations written as the config writes
 * them: "500ms", "5m") and show it (secrets masked), checked into the stored spec. Every problem is
 * named by its path, all at once, so a client fixes a body in one go. The body's JSON shape is
 * checked first by the API's schema; these are the rules a schema cannot say.
 */
import {
  DEFAULT_DESTINATION_ID,
  DESTINATION_ID,
  TOPIC,
  type Destination,
  type DestinationSpec,
} from '../domain/destination.js';
import { textProblem } from '../domain/text.js';
import { formatDuration, parseDuration } from '../config/duration.js';

export interface DestinationInput {
  id?: string;
  url?: string;
  description?: string;
  headers?: Record<string, string>;
  secrets?: { secret: string; expires_at?: string | null }[];
  timeout?: string | null;
  rate_limit?: { limit: number; period: string; burst?: number } | null;
  max_in_flight?: number | null;
  retry?: { max_attempts: number; base_delay: string; max_delay: string; max_age?: string | null } | null;
  topics?: string[];
  metadata?: Record<string, string>;
}

export interface Problem {
  path: string;
  message: string;
}

export const LIMITS = {
  description: 1024,
  headers: 20,
  headerValue: 4096,
  secrets: 10,
  topics: 100,
  metadata: 50,
  metadataKey: 64,
  metadataValue: 1024,
  maxInFlight: 10_000,
  maxAttempts: 100,
  timeoutMs: 5 * 60_000,
} as const;

/** Names a destination may not set: the service writes them (signatures, body, routing, framing). */
const RESERVED_HEADER =
  /^(webhook-.*|content-type|content-length|host|transfer-encoding|connection|keep-alive|upgrade|te|trailer|expect|proxy-.*)$/i;
/** RFC 9110 token characters */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** A header value holds no control character but tab (no CR or LF: no header injection). */
function headerValueOk(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}
const SECRET = /^whsec_[A-Za-z0-9+/]+={0,2}$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * The spec of `input`: for `create`, every field (defaults for those left out, `url` required);
 * for `patch`, only the fields given. With the problems found (empty: valid).
 */
export function specFromInput(
  input: DestinationInput,
  mode: 'create' | 'patch',
): { id: string | null; spec: Partial<DestinationSpec>; problems: Problem[] } {
  const problems: Problem[] = [];
  const bad = (path: string, message: string): void => void problems.push({ path, message });
  const duration = (path: string, text: string, minMs: number, maxMs = Infinity): number => {
    const ms = parseDuration(text);
    if (ms === null) bad(path, `${JSON.stringify(text)} is not a duration such as 500ms, 30s, 5m or 24h`);
    else if (ms < minMs || ms > maxMs) {
      bad(
        path,
        `must be from ${formatDuration(minMs)}${maxMs < Infinity ? ` to ${formatDuration(maxMs)}` : ''}`,
      );
    }
    return ms ?? 0;
  };
  const text = (path: string, value: string, max: number): void => {
    const problem = textProblem(value);
    if (problem) bad(path, problem);
    if (value.length > max) bad(path, `is longer than ${max} characters`);
  };
  const spec: Partial<DestinationSpec> = {};

  let id: string | null = null;
  if (input.id !== undefined) {
    if (mode === 'patch') bad('/id', 'cannot be changed');
    else if (!DESTINATION_ID.test(input.id)) {
      bad('/id', 'must be 1 to 64 lower-case letters, digits, "-" or "_", starting with a letter or digit');
    } else if (input.id === DEFAULT_DESTINATION_ID) {
      bad('/id', 'default is the built-in destination of the config (webhookClient.*, WEBHOOK_URL)');
    } else id = input.id;
  }

  if (input.url !== undefined) {
    let u: URL | null = null;
    try {
      u = new URL(input.url);
    } catch {
      bad('/url', 'is not an absolute URL');
    }
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') bad('/url', 'must be http:// or https://');
    else if (u && (u.username || u.password)) {
      bad('/url', 'must not hold credentials (they would show wherever the URL does): send them in a header');
    } else if (u && u.hash) bad('/url', 'must not have a #fragment (it is never sent)');
    else if (u) spec.url = input.url;
  } else if (mode === 'create') bad('/url', 'is required');

  if (input.description !== undefined) {
    text('/description', input.description, LIMITS.description);
    spec.description = input.description;
  } else if (mode === 'create') spec.description = '';

  if (input.headers !== undefined) {
    const entries = Object.entries(input.headers);
    if (entries.length > LIMITS.headers) bad('/headers', `at most ${LIMITS.headers} headers`);
    const seen = new Set<string>();
    for (const [name, value] of entries) {
      const path = `/headers/${name}`;
      const lower = name.toLowerCase();
      if (!HEADER_NAME.test(name)) bad(path, 'is not a valid header name');
      else if (RESERVED_HEADER.test(name)) bad(path, 'is set by the service and cannot be overridden');
      else if (seen.has(lower)) bad(path, 'is given twice (header names are case-insensitive)');
      seen.add(lower);
      if (!headerValueOk(value)) bad(path, 'must not hold control characters (CR, LF, NUL)');
      if (value.length > LIMITS.headerValue) bad(path, `is longer than ${LIMITS.headerValue} characters`);
    }
    spec.headers = input.headers;
  } else if (mode === 'create') spec.headers = {};

  if (input.secrets !== undefined) {
    if (input.secrets.length > LIMITS.secrets) bad('/secrets', `at most ${LIMITS.secrets} secrets`);
    spec.secrets = input.secrets.map((s, i) => {
      if (!SECRET.test(s.secret))
        bad(`/secrets/${i}/secret`, 'must be whsec_ followed by base64 (value not shown)');
      let expires: Date | null = null;
      if (s.expires_at !== undefined && s.expires_at !== null) {
        expires = RFC3339.test(s.expires_at) ? new Date(s.expires_at) : null;
        if (!expires || Number.isNaN(expires.getTime())) {
          bad(`/secrets/${i}/expires_at`, 'must be an RFC 3339 time such as 2027-01-31T00:00:00Z');
        }
      }
      return { secret: s.secret, expires_at: expires };
    });
  } else if (mode === 'create') spec.secrets = [];

  if (input.timeout !== undefined) {
    spec.timeout_ms =
      input.timeout === null ? null : duration('/timeout', input.timeout, 1, LIMITS.timeoutMs);
  } else if (mode === 'create') spec.timeout_ms = null;

  if (input.rate_limit !== undefined) {
    const r = input.rate_limit;
    if (r === null) spec.rate_limit = null;
    else {
      if (!Number.isInteger(r.limit) || r.limit < 1)
        bad('/rate_limit/limit', 'must be a whole number of at least 1');
      const burst = r.burst ?? r.limit;
      if (!Number.isInteger(burst) || burst < 1)
        bad('/rate_limit/burst', 'must be a whole number of at least 1');
      spec.rate_limit = { limit: r.limit, period_ms: duration('/rate_limit/period', r.period, 1), burst };
    }
  } else if (mode === 'create') spec.rate_limit = null;

  if (input.max_in_flight !== undefined) {
    const n = input.max_in_flight;
    if (n !== null && (!Number.isInteger(n) || n < 1 || n > LIMITS.maxInFlight)) {
      bad('/max_in_flight', `must be a whole number from 1 to ${LIMITS.maxInFlight}`);
    }
    spec.max_in_flight = n;
  } else if (mode === 'create') spec.max_in_flight = null;

  if (input.retry !== undefined) {
    const r = input.retry;
    if (r === null) spec.retry = null;
    else {
      if (!Number.isInteger(r.max_attempts) || r.max_attempts < 1 || r.max_attempts > LIMITS.maxAttempts) {
        bad('/retry/max_attempts', `must be a whole number from 1 to ${LIMITS.maxAttempts}`);
      }
      const base = duration('/retry/base_delay', r.base_delay, 1);
      const max = duration('/retry/max_delay', r.max_delay, 1);
      if (max < base) bad('/retry/max_delay', 'must be at least retry.base_delay');
      const age =
        r.max_age === undefined || r.max_age === null ? null : duration('/retry/max_age', r.max_age, 1);
      spec.retry = { max_attempts: r.max_attempts, base_delay_ms: base, max_delay_ms: max, max_age_ms: age };
    }
  } else if (mode === 'create') spec.retry = null;

  if (input.topics !== undefined) {
    if (input.topics.length > LIMITS.topics) bad('/topics', `at most ${LIMITS.topics} topics`);
    input.topics.forEach((t, i) => {
      if (!TOPIC.test(t)) {
        bad(
          `/topics/${i}`,
          'must be 1 to 128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit',
        );
      }
    });
    spec.topics = [...new Set(input.topics)];
  } else if (mode === 'create') spec.topics = [];

  if (input.metadata !== undefined) {
    const entries = Object.entries(input.metadata);
    if (entries.length > LIMITS.metadata) bad('/metadata', `at most ${LIMITS.metadata} entries`);
    for (const [k, v] of entries) {
      if (k.length === 0 || k.length > LIMITS.metadataKey) {
        bad(`/metadata/${k}`, `a key is 1 to ${LIMITS.metadataKey} characters`);
      }
      text(`/metadata/${k}`, v, LIMITS.metadataValue);
    }
    spec.metadata = input.metadata;
  } else if (mode === 'create') spec.metadata = {};

  return { id, spec, problems };
}

/** A secret as shown after creation: its kind and last four characters, never the rest. */
export function maskSecret(secret: string): string {
  return `whsec_…${secret.slice(-4)}`;
}

/** A destination as the API shows it: durations as the config writes them, times in RFC 3339, secrets masked. */
export function destinationView(d: Destination): Record<string, unknown> {
  return {
    id: d.id,
    url: d.url,
    description: d.description,
    headers: d.headers,
    secrets: d.secrets.map((s) => ({
      secret: maskSecret(s.secret),
      expires_at: s.expires_at?.toISOString() ?? null,
    })),
    timeout: d.timeout_ms === null ? null : formatDuration(d.timeout_ms),
    rate_limit: d.rate_limit && {
      limit: d.rate_limit.limit,
      period: formatDuration(d.rate_limit.period_ms),
      burst: d.rate_limit.burst,
    },
    max_in_flight: d.max_in_flight,
    retry: d.retry && {
      max_attempts: d.retry.max_attempts,
      base_delay: formatDuration(d.retry.base_delay_ms),
      max_delay: formatDuration(d.retry.max_delay_ms),
      max_age: d.retry.max_age_ms === null ? null : formatDuration(d.retry.max_age_ms),
    },
    topics: d.topics,
    metadata: d.metadata,
    status: d.status,
    disabled_reason: d.disabled_reason,
    disabled_at: d.disabled_at?.toISOString() ?? null,
    created_at: d.created_at.toISOString(),
    updated_at: d.updated_at.toISOString(),
    version: d.version,
  };
}
