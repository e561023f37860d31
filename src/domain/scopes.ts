/**
 * What a credential may do. Each operation of the API needs one scope
 * (declared on the route, shown in the OpenAPI document); `admin` manages keys.
 */
export const SCOPES = {
  'messages:read': 'List and read messages and their delivery attempts',
  'messages:write': 'Create, cancel, retry and give up messages',
  'pool:control': 'Read, pause and start the worker pool',
  'destinations:read': 'List and read destinations (secrets masked)',
  'destinations:write': 'Create, change, pause, resume and delete destinations',
  'schedules:read': 'List and read schedules and their next occurrences',
  'schedules:write': 'Create, change, pause, resume, trigger and delete schedules',
  'metrics:read': 'Read the Prometheus metrics (GET /metrics)',
  admin: 'Create, list and revoke API keys',
} as const;

export type Scope = keyof typeof SCOPES;

export const SCOPE_NAMES = Object.keys(SCOPES) as Scope[];

export function isScope(s: string): s is Scope {
  return Object.hasOwn(SCOPES, s);
}

/** Who made a request: what the logs name as the actor, and whose token bucket it draws on. */
export interface Principal {
  kind: 'api_key' | 'jwt' | 'anonymous';
  /** the key's name, the token's `sub` (or client id), or `anonymous` */
  name: string;
  scopes: ReadonlySet<Scope>;
  /** the rate limiter's bucket: `key:<id>`, `jwt:<iss> <sub>`, `ip:<address>` */
  bucket: string;
  /** the key id, for an API key */
  keyId?: string;
}
