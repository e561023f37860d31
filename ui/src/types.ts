/** What the API answers, as far as the dashboard reads it (docs/openapi.json is the reference). */
/** The API's scopes (src/domain/scopes.ts), in the order the API keys screen offers them. */
export const SCOPES = [
  'messages:read',
  'messages:write',
  'pool:control',
  'destinations:read',
  'destinations:write',
  'schedules:read',
  'schedules:write',
  'metrics:read',
  'admin',
] as const;
export type Scope = (typeof SCOPES)[number];

export interface Me {
  /** none: no credential was given and one is needed */
  kind: 'api_key' | 'jwt' | 'anonymous' | 'none';
  name: string;
  scopes: Scope[];
}

export const STATUSES = [
  'unsent',
  'processing',
  'sent',
  'failed',
  'unknown',
  'invalid_content',
  'cancelled',
] as const;
export type Status = (typeof STATUSES)[number];

export interface Message {
  id: string;
  content: string;
  recipient_phone_number: string;
  status: Status;
  created_at: string;
  sent_at: string | null;
  send_at: string | null;
  next_attempt_at: string | null;
  priority: number;
  attempts: number;
  last_error: string | null;
  webhook_id: string;
  webhook_response_message_id: string | null;
  destination: string;
  group_id: string | null;
  topic: string | null;
  idempotency_key?: string | null;
  [field: string]: unknown;
}

export interface Attempt {
  attempt: number;
  started_at: string;
  latency_ms: number;
  status_code: number | null;
  error: string | null;
  outcome: string;
  destination: string;
  url: string | null;
  node: string | null;
}

export interface NodeView {
  id: string;
  role: string;
  state: string;
  in_flight: number;
  version: string;
  started_at: string;
  last_seen: string;
}

export interface PoolState {
  status: 'running' | 'paused';
  nodes: NodeView[];
}

export interface Overview {
  at: string;
  counts: Record<Status, number>;
  count_cap: number;
  oldest_due_at: string | null;
  oldest_due_age_seconds: number;
  activity: {
    from: string;
    minutes: number;
    delivered: number[];
    failed: number[];
    retried: number[];
    lateness_p99_ms: (number | null)[];
    nodes_reporting: number;
  };
  pool: PoolState | null;
}

export interface Health {
  circuit: string;
  effective_rate: number | null;
  in_flight: number;
  due_backlog: number;
  last_success_at: string | null;
  last_failure_at: string | null;
  success_ratio: number | null;
  attempts_in_window: number;
  window: string;
  [field: string]: unknown;
}

export interface Destination {
  id: string;
  builtin: boolean;
  url: string;
  description: string;
  status: 'active' | 'paused' | 'disabled';
  disabled_reason: string | null;
  topics: string[];
  metadata: Record<string, string>;
  secrets: { secret: string; expires_at: string | null }[];
  rate_limit: { limit: number; period: string; burst: number } | null;
  max_in_flight: number | null;
  version: number;
  health?: Health;
}

export interface Schedule {
  id: string;
  status: 'active' | 'paused' | 'ended';
  cron?: string | null;
  every?: string | null;
  timezone?: string | null;
  next_run_at: string | null;
  last_run_at: string | null;
  run_count: number;
  upcoming?: { at: string; local: string }[];
  description?: string;
  [field: string]: unknown;
}

export interface ApiKey {
  id: string;
  name: string;
  scopes: Scope[];
  created_at: string;
  expires_at: string | null;
  last_used_at?: string | null;
  revoked_at?: string | null;
  [field: string]: unknown;
}
