/**
 * A destination: one receiver of webhooks, with its own URL, secrets, limits and failure handling
 * (issue 24). The stores keep it (store/destination-store.ts); the service's rules about it (what
 * a valid one is, its flow control, its breaker) live in src/destinations/ as they are built.
 * Durations are kept in milliseconds; the API writes them as the config does ("500ms", "5m").
 */
export type DestinationStatus = 'active' | 'paused' | 'disabled';

/** The built-in destination the config's webhook settings make (webhookClient.*, WEBHOOK_URL). */
export const DEFAULT_DESTINATION_ID = 'default';

/** A Standard Webhooks signing secret (`whsec_` + base64); several at once while a receiver rotates. */
export interface SigningSecret {
  secret: string;
  /** from then on it no longer signs (null: it does not expire) */
  expires_at: Date | null;
}

/** What a user sets on a destination (create and update). */
export interface DestinationSpec {
  url: string;
  description: string;
  /** custom request headers (never `webhook-*`, `content-type`, `host`) */
  headers: Record<string, string>;
  secrets: SigningSecret[];
  /** one request's timeout; null: the service's (webhookClient.timeout) */
  timeout_ms: number | null;
  /** a token bucket: `limit` requests per `period_ms`, bursts of `burst`; null: no limit of its own */
  rate_limit: { limit: number; period_ms: number; burst: number } | null;
  /** requests in flight at once across the cluster; null: no bound of its own */
  max_in_flight: number | null;
  /** null: the service's retry settings (retry.*) */
  retry: {
    max_attempts: number;
    base_delay_ms: number;
    max_delay_ms: number;
    max_age_ms: number | null;
  } | null;
  /** the topics it subscribes to */
  topics: string[];
  metadata: Record<string, string>;
}

/** A spec with nothing of its own but a URL (and `extra`): the service's timeout, retries, no limits. */
export function plainSpec(url: string, extra: Partial<DestinationSpec> = {}): DestinationSpec {
  return {
    url,
    description: '',
    headers: {},
    secrets: [],
    timeout_ms: null,
    rate_limit: null,
    max_in_flight: null,
    retry: null,
    topics: [],
    metadata: {},
    ...extra,
  };
}

/** What is kept about a destination besides its spec: its id, its state and its version. */
export interface DestinationState {
  /** a slug: lower-case letters, digits, `-` and `_`, 1 to 64 characters, starting with a letter or digit */
  id: string;
  status: DestinationStatus;
  disabled_reason: string | null;
  disabled_at: Date | null;
  created_at: Date;
  updated_at: Date;
  /** bumped by each change: an update may name the version it read (optimistic concurrency) */
  version: number;
}

export interface Destination extends DestinationSpec, DestinationState {}

/** A destination id's rule, as regular-expression source (the API schema's pattern is this one). */
export const DESTINATION_ID_PATTERN = '^[a-z0-9][a-z0-9_-]{0,63}$';
export const DESTINATION_ID = new RegExp(DESTINATION_ID_PATTERN);
/** A topic: 1 to 128 letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit. */
export const TOPIC_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';
export const TOPIC = new RegExp(TOPIC_PATTERN);

/** A URL as the service shows and records it: without `user:password@` (the config's URL may hold one). */
export function publicUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return url;
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

/** What the config says about its one webhook: the built-in `default` destination is made of it. */
export interface DefaultDestinationSettings {
  url: string;
  timeoutMs: number;
  signingSecrets: readonly string[];
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
}

/** The built-in `default` destination: the config's webhook, never stored, always active. */
export function builtinDestination(s: DefaultDestinationSettings, since: Date): Destination {
  return {
    id: DEFAULT_DESTINATION_ID,
    url: s.url,
    description: 'The webhook of the config (webhookClient.*, WEBHOOK_URL, WEBHOOK_SECRET, retry.*)',
    headers: {},
    secrets: s.signingSecrets.map((secret) => ({ secret, expires_at: null })),
    timeout_ms: s.timeoutMs,
    rate_limit: null,
    max_in_flight: null,
    retry: {
      max_attempts: s.retry.maxAttempts,
      base_delay_ms: s.retry.baseDelayMs,
      max_delay_ms: s.retry.maxDelayMs,
      max_age_ms: null,
    },
    topics: [],
    metadata: {},
    status: 'active',
    disabled_reason: null,
    disabled_at: null,
    created_at: since,
    updated_at: since,
    version: 0,
  };
}
