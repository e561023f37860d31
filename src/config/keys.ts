/**
 * Every setting of the file config (`${CONFIG_PATH}/${CONFIG_ENV}.yaml`), with its
 * type, default and environment-variable override, in one typed place. The
 * loader, the validation and the README's table are all driven by this list.
 */
export type KeyType =
  | 'duration'
  | 'int'
  | 'number'
  | 'bool'
  | 'string'
  | 'url'
  | 'level'
  | 'choice'
  /** a YAML list of strings, or one string of space-separated items (the environment's form) */
  | 'list';

export type Secrecy = true | 'url' | 'headers';

export interface KeySpec {
  /** dotted path in the YAML file, as the original named it */
  readonly key: string;
  /** environment variable that overrides the file */
  readonly env: string;
  readonly type: KeyType;
  readonly default: string | number | boolean;
  readonly min?: number;
  readonly max?: number;
  /** the allowed values of a `choice` (or of each item of a `list`) */
  readonly choices?: readonly string[];
  /** a `url` that may be left empty (the feature is off) */
  readonly optional?: boolean;
  /**
   * The value holds a secret, never printed (not in an error, not in a log line: the logger
   * redacts every value this flag names, src/config/redact.ts): `true`: the whole value, and each
   * item of a list; `url`: the password inside a URL; `headers`: each value of `key=value,...`.
   */
  readonly secret?: Secrecy;
  /** an empty environment value is a value (e.g. "no prefix"), not "unset" */
  readonly emptyEnvIsValue?: boolean;
  readonly doc: string;
}

export const CONFIG_KEYS = [
  {
    key: 'worker.workerJobInterval',
    env: 'WORKER_JOB_INTERVAL',
    type: 'duration',
    default: '1s',
    min: 1,
    doc: 'Longest sleep between two looks at the store when nothing is due (new messages and due timers wake the pool sooner).',
  },
  {
    key: 'mongoDB.seed',
    env: 'MONGODB_SEED',
    type: 'bool',
    default: false,
    doc: 'Seed `sample/seed.json` into the store at start (any store, despite the name).',
  },
  {
    key: 'webhookClient.timeout',
    env: 'WEBHOOK_CLIENT_TIMEOUT',
    type: 'duration',
    default: '10s',
    min: 1,
    doc: 'Timeout of one webhook request (connect + response).',
  },
  {
    key: 'webhookClient.host',
    env: 'WEBHOOK_CLIENT_HOST',
    type: 'url',
    default: 'https://webhook.site',
    secret: 'url',
    doc: 'Webhook origin. `WEBHOOK_URL` overrides host and path together.',
  },
  {
    key: 'webhookClient.path',
    env: 'WEBHOOK_CLIENT_PATH',
    type: 'string',
    default: '/a4d12c37-21b5-4470-92ad-357329f2b48c',
    doc: 'Webhook path appended to the host.',
  },
  {
    key: 'webhookClient.signingSecret',
    env: 'WEBHOOK_SECRET',
    type: 'list',
    default: '',
    secret: true,
    doc: 'Standard Webhooks secrets (`whsec_` + base64): one, or several (a YAML list or space-separated) while a receiver rotates: every request then carries one signature per secret in `webhook-signature`. Never logged.',
  },
  {
    key: 'webhookClient.bodyEscaping',
    env: 'WEBHOOK_BODY_ESCAPING',
    type: 'choice',
    choices: ['go', 'plain'],
    default: 'go',
    doc: "How the webhook body writes `&`, `<`, `>`, U+2028 and U+2029 in strings: `go` escapes them (`\\u0026` ...) as the original's Go client did, byte for byte (a receiver that hashes bodies sees no change after a takeover); `plain` writes them as they are. The same JSON value either way.",
  },
  {
    key: 'cache.ttl',
    env: 'CACHE_TTL',
    type: 'duration',
    default: '24h',
    min: 1000,
    doc: 'TTL of the `messageId → sent_at` cache entry written after each delivery.',
  },
  {
    key: 'cache.keyPrefix',
    env: 'CACHE_KEY_PREFIX',
    type: 'string',
    default: '',
    emptyEnvIsValue: true,
    doc: "Prefix of every Redis key the service writes. Empty (the default) writes the original's key, `<messageId>`; `CACHE_KEY_PREFIX=` (set and empty) also means no prefix.",
  },
  {
    key: 'pool.numWorkers',
    env: 'POOL_NUM_WORKERS',
    type: 'int',
    default: 2,
    min: 1,
    max: 10_000,
    doc: 'Deliveries in flight at once in this process.',
  },
  {
    key: 'pool.timeout',
    env: 'POOL_TIMEOUT',
    type: 'duration',
    default: '30s',
    min: 0,
    doc: 'On shutdown, how long in-flight deliveries may take to finish before they are released.',
  },
  {
    key: 'pool.initialJobFetch',
    env: 'POOL_INITIAL_JOB_FETCH',
    type: 'bool',
    default: true,
    doc: 'Pool state at boot while the cluster has none stored (no `PUT /worker-pool/state` was ever made on this store): `true` running, `false` paused. Once a state is stored, every node, a restarted one too, follows it.',
  },
  {
    key: 'node.role',
    env: 'NODE_ROLE',
    type: 'choice',
    choices: ['all', 'api', 'worker'],
    default: 'all',
    doc: '`all`: this node serves the API and delivers. `api`: it serves the API and never delivers. `worker`: it delivers and serves only `/healthz` and `/readyz`. `serve --role` sets it too.',
  },
  {
    key: 'metrics.enabled',
    env: 'METRICS_ENABLED',
    type: 'bool',
    default: true,
    doc: '`GET /metrics`: Prometheus text format, scope `metrics:read` (labels reveal traffic). Served by `worker` nodes too. README "Observability".',
  },
  {
    key: 'metrics.listen',
    env: 'METRICS_LISTEN',
    type: 'string',
    default: '',
    doc: 'A listener of its own for `GET /metrics`, e.g. `127.0.0.1:9464` (`:9464`: every interface), answered **without authentication**: give it an address only Prometheus reaches. Empty: none (`/metrics` on the API port, scope `metrics:read`, stays either way).',
  },
  {
    key: 'metrics.countInterval',
    env: 'METRICS_COUNT_INTERVAL',
    type: 'duration',
    default: '15s',
    min: 1000,
    doc: 'How often one node of the cluster (the live node with the lowest id) counts messages by status and the oldest due one for `message_scheduler_messages` and `message_scheduler_oldest_due_age_seconds`: bounded counts, never a scan per scrape.',
  },
  {
    key: 'pool.heartbeatInterval',
    env: 'POOL_HEARTBEAT_INTERVAL',
    type: 'duration',
    default: '3s',
    min: 100,
    doc: 'How often each node writes its heartbeat into the store (and looks for dead nodes to recover).',
  },
  {
    key: 'pool.nodeTimeout',
    env: 'POOL_NODE_TIMEOUT',
    type: 'duration',
    default: '15s',
    min: 300,
    doc: 'A node not heard from for this long is dead: any live node returns its leases to `unsent` (`unknown` at most once) at once. A node whose own heartbeat is older than half of this starts no delivery. At least 3 × `pool.heartbeatInterval`; node clocks must agree to well within it.',
  },
  {
    key: 'pool.stateSyncInterval',
    env: 'POOL_STATE_SYNC_INTERVAL',
    type: 'duration',
    default: '500ms',
    min: 20,
    max: 1000,
    doc: "How often each node reads the cluster's pool state from the store: a pause or start on any node holds on every node within this time.",
  },
  {
    key: 'pool.leaseTimeout',
    env: 'POOL_LEASE_TIMEOUT',
    type: 'duration',
    default: '5m',
    min: 1000,
    doc: 'A claimed message whose lease is older than this is recovered to `unsent` (its owner died).',
  },
  {
    key: 'delivery.mode',
    env: 'DELIVERY_MODE',
    type: 'choice',
    choices: ['at-least-once', 'at-most-once'],
    default: 'at-least-once',
    doc: '`at-least-once`: a delivery whose outcome is unknown (a crash, a timeout after the request left) is sent again with the same `webhook-id`. `at-most-once`: it becomes `unknown` for an operator (`POST /messages/{id}/retry` or `/give-up`) and is never re-sent by itself.',
  },
  {
    key: 'pool.deliveryThreads',
    env: 'POOL_DELIVERY_THREADS',
    type: 'int',
    default: 0,
    min: 0,
    max: 64,
    doc: 'Worker threads that send the webhook requests, so the main thread only claims and stores. `0`: send from the main thread. On a 2-core machine no measurable gain (the run-to-run noise is larger) and +20 MB RSS with `1`; meant for machines with more cores.',
  },
  {
    key: 'rateLimiter.enabled',
    env: 'RATE_LIMITER_ENABLED',
    type: 'bool',
    default: true,
    doc: 'Gate deliveries with the token bucket below.',
  },
  {
    key: 'rateLimiter.maxTokens',
    env: 'RATE_LIMITER_MAX_TOKENS',
    type: 'int',
    default: 2,
    min: 1,
    doc: 'Bucket size: the largest burst of deliveries.',
  },
  {
    key: 'rateLimiter.refillRate',
    env: 'RATE_LIMITER_REFILL_RATE',
    type: 'int',
    default: 2,
    min: 1,
    doc: 'Tokens added every `refillInterval`.',
  },
  {
    key: 'rateLimiter.refillInterval',
    env: 'RATE_LIMITER_REFILL_INTERVAL',
    type: 'duration',
    default: '2m',
    min: 1,
    doc: 'Refill period of the bucket.',
  },
  {
    key: 'retry.maxAttempts',
    env: 'RETRY_MAX_ATTEMPTS',
    type: 'int',
    default: 5,
    min: 1,
    max: 100,
    doc: 'Delivery attempts before a message is `failed`.',
  },
  {
    key: 'retry.baseDelay',
    env: 'RETRY_BASE_DELAY',
    type: 'duration',
    default: '1s',
    min: 0,
    doc: 'Backoff before the 2nd attempt; doubles each attempt, with full jitter.',
  },
  {
    key: 'retry.maxDelay',
    env: 'RETRY_MAX_DELAY',
    type: 'duration',
    default: '10m',
    min: 0,
    doc: 'Upper bound of one backoff (and of an honoured `Retry-After`).',
  },
  {
    key: 'api.bodyLimit',
    env: 'API_BODY_LIMIT',
    type: 'int',
    default: 1_048_576,
    min: 1024,
    doc: 'Largest request body in bytes (larger → 413).',
  },
  {
    key: 'api.requestTimeout',
    env: 'API_REQUEST_TIMEOUT',
    type: 'duration',
    default: '30s',
    min: 1000,
    doc: 'Longest time a client may take to send a whole request (headers and body); then 408 and the connection is closed. A body that stops half-way holds nothing longer than this.',
  },
  {
    key: 'api.headersTimeout',
    env: 'API_HEADERS_TIMEOUT',
    type: 'duration',
    default: '10s',
    min: 1000,
    doc: 'Longest time a client may take to send the request headers (at most `api.requestTimeout`).',
  },
  {
    key: 'api.keepAliveTimeout',
    env: 'API_KEEP_ALIVE_TIMEOUT',
    type: 'duration',
    default: '72s',
    min: 1000,
    doc: 'How long an idle keep-alive connection stays open (longer than the usual 60 s idle timeout of load balancers, so they close first).',
  },
  {
    key: 'api.maxConcurrentRequests',
    env: 'API_MAX_CONCURRENT_REQUESTS',
    type: 'int',
    default: 4,
    min: 0,
    max: 100_000,
    doc: 'On a node that also delivers (`node.role: all`), while its pool is running: API requests worked on at once; the others wait their turn (client by client, first come first served within a client) once their body is in, so a write flood slows API answers instead of starving deliveries (`bench flood`: 28% → 67% of the delivery rate kept under a batch flood). A body still arriving or an answer not yet read holds no place. `0`: no bound. An `api` node is never bounded; probes never wait.',
  },
  {
    key: 'api.maxConcurrentRequestsPerClient',
    env: 'API_MAX_CONCURRENT_REQUESTS_PER_CLIENT',
    type: 'int',
    default: 4,
    min: 1,
    max: 100_000,
    doc: "API requests of one client (its API key, token subject, or address when anonymous) worked on at once, on every node; its others wait, and waiting requests are served client by client in turn, so one client's many connections pass no one. Probes, `/metrics` and pool control never wait.",
  },
  {
    key: 'api.maxConnections',
    env: 'API_MAX_CONNECTIONS',
    type: 'int',
    default: 4096,
    min: 16,
    max: 1_000_000,
    doc: "Open client connections at most. Near it the longest-idle connection is closed for a new one; at it, if none is idle, the client holding the most gives up its oldest. Keep it below the process's file-descriptor limit (`ulimit -n`) less what the store and the webhook connections need.",
  },
  {
    key: 'api.maxConnectionsPerClient',
    env: 'API_MAX_CONNECTIONS_PER_CLIENT',
    type: 'int',
    default: 256,
    min: 1,
    max: 1_000_000,
    doc: 'Open connections of one client address (an IPv6 client by its /64) at most: past it its longest-idle connection is closed for a new one, or the new one is refused if all of its connections are busy. At most `api.maxConnections`. Not applied to the addresses of `api.trustProxy` (a proxy in front carries every client).',
  },
  {
    key: 'api.auth',
    env: 'API_AUTH',
    type: 'choice',
    choices: ['protected', 'required', 'none'],
    default: 'protected',
    doc: "`protected`: once any credential exists (an API key in the store or in `auth.apiKeys`, or `auth.jwt.jwksUrl`), every API request needs one; until then only loopback clients are answered (as Redis' protected mode). `required`: credentials always, even on loopback. `none`: no authentication at all: **unsafe**, for a network only trusted clients reach.",
  },
  {
    key: 'auth.apiKeys',
    env: 'AUTH_API_KEYS',
    type: 'list',
    default: '',
    // hashes, but a raw key may be pasted here by mistake: never shown
    secret: true,
    doc: 'API keys given as hashes, for deployments that do not create keys through the API: items `NAME;SCOPES;sha256:HEX` (scopes comma-separated), as `message-scheduler keys hash` prints them.',
  },
  {
    key: 'auth.apiKeyMaxLifetime',
    env: 'AUTH_API_KEY_MAX_LIFETIME',
    type: 'duration',
    default: '2160h',
    min: 0,
    doc: 'Longest life of an API key made over HTTP (`POST /keys`), 90 days by default: a key asks for its `expires_at` within it, or gets it. `0`: no bound, and keys made over HTTP do not expire unless they ask to. Keys made with `message-scheduler keys create` expire only with `--expires-in`.',
  },
  {
    key: 'auth.keyRefreshInterval',
    env: 'AUTH_KEY_REFRESH_INTERVAL',
    type: 'duration',
    default: '2s',
    min: 100,
    max: 60_000,
    doc: 'How often each node re-reads the API keys from the store: a key created or revoked on one node holds on every node within this time.',
  },
  {
    key: 'auth.swaggerPublic',
    env: 'AUTH_SWAGGER_PUBLIC',
    type: 'bool',
    default: true,
    doc: '`/swagger/*` (the API description, no data) is served without credentials. `false`: it needs a credential of any scope.',
  },
  {
    key: 'auth.jwt.jwksUrl',
    env: 'AUTH_JWT_JWKS_URL',
    type: 'url',
    secret: 'url',
    optional: true,
    default: '',
    doc: "OAuth2: the authorization server's JWKS URL (`https://`; `http://` only on a loopback host with `auth.jwt.allowHttpLoopback`). When set, JWT access tokens are accepted as `Authorization: Bearer`, checked with `jose`. Its response is read up to 256 KiB.",
  },
  {
    key: 'auth.jwt.allowHttpLoopback',
    env: 'AUTH_JWT_ALLOW_HTTP_LOOPBACK',
    type: 'bool',
    default: false,
    doc: 'Accept an `http://` `auth.jwt.jwksUrl` whose host is loopback (`localhost`, `127.0.0.1`, `[::1]`): an authorization server on the same host or in tests. Plain HTTP to any other host is never accepted (whoever sits on the path could publish their own keys).',
  },
  {
    key: 'auth.jwt.maxTokenLifetime',
    env: 'AUTH_JWT_MAX_TOKEN_LIFETIME',
    type: 'duration',
    default: '24h',
    min: 0,
    doc: 'Longest life of an accepted token, from its `iat` (or now) to its `exp`: a token that would live longer is refused (an `exp` in 2999 is not a credential for ever). `0`: no bound.',
  },
  {
    key: 'auth.jwt.issuer',
    env: 'AUTH_JWT_ISSUER',
    type: 'string',
    default: '',
    doc: 'The `iss` every token must carry (required with `auth.jwt.jwksUrl`).',
  },
  {
    key: 'auth.jwt.audience',
    env: 'AUTH_JWT_AUDIENCE',
    type: 'string',
    default: '',
    doc: 'The `aud` every token must include (required with `auth.jwt.jwksUrl`).',
  },
  {
    key: 'auth.jwt.algorithms',
    env: 'AUTH_JWT_ALGORITHMS',
    type: 'list',
    choices: ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'],
    default: 'RS256 PS256 ES256 EdDSA',
    doc: 'Signature algorithms accepted (asymmetric only: never `none`, never HS*).',
  },
  {
    key: 'auth.jwt.clockTolerance',
    env: 'AUTH_JWT_CLOCK_TOLERANCE',
    type: 'duration',
    default: '30s',
    min: 0,
    max: 300_000,
    doc: 'Clock skew allowed on `exp` and `nbf`.',
  },
  {
    key: 'auth.jwt.jwksCooldown',
    env: 'AUTH_JWT_JWKS_COOLDOWN',
    type: 'duration',
    default: '30s',
    min: 0,
    doc: 'A token with an unknown `kid` makes the JWKS be fetched again at most this often (a flood of made-up `kid`s costs the authorization server one request per period).',
  },
  {
    key: 'auth.jwt.jwksMaxAge',
    env: 'AUTH_JWT_JWKS_MAX_AGE',
    type: 'duration',
    default: '1m',
    min: 1000,
    doc: 'The JWKS is fetched again after this age (one request per period while tokens come), and a token already checked is trusted no longer: a key withdrawn from the JWKS is refused within this time. While the endpoint is down the keys already fetched stay in use; a new `kid` is refused.',
  },
  {
    key: 'auth.jwt.tokenUrl',
    env: 'AUTH_JWT_TOKEN_URL',
    type: 'url',
    secret: 'url',
    optional: true,
    default: '',
    doc: "The authorization server's token endpoint, shown in the OpenAPI document (Swagger UI's client-credentials login). Documentation only.",
  },
  {
    key: 'apiRateLimiter.enabled',
    env: 'API_RATE_LIMITER_ENABLED',
    type: 'bool',
    default: true,
    doc: 'A token bucket per API client (API key, token subject, or address when anonymous: every loopback address is one client, an IPv6 client is its /64): over it, 429 with `Retry-After`. Every answer draws on it, 404, 405 and 401 included. Shared by every node through Redis when `REDIS_URI` is set. `/healthz` and `/readyz` are exempt.',
  },
  {
    key: 'apiRateLimiter.maxTokens',
    env: 'API_RATE_LIMITER_MAX_TOKENS',
    type: 'int',
    default: 200,
    min: 1,
    doc: 'Bucket size: the largest burst of requests of one client. A request costs one token (a batch too: it is bounded by `api.bodyLimit` and 1000 messages), except a page of messages: one token per 100 messages asked for (`limit=1000` costs 10).',
  },
  {
    key: 'apiRateLimiter.refillRate',
    env: 'API_RATE_LIMITER_REFILL_RATE',
    type: 'int',
    default: 100,
    min: 1,
    doc: 'Tokens added every `refillInterval` (continuously: a client may send `refillRate` requests per interval on average).',
  },
  {
    key: 'apiRateLimiter.refillInterval',
    env: 'API_RATE_LIMITER_REFILL_INTERVAL',
    type: 'duration',
    default: '1s',
    min: 1,
    doc: 'Refill period of the API bucket.',
  },
  {
    key: 'api.cors.origins',
    env: 'API_CORS_ORIGINS',
    type: 'list',
    default: '',
    doc: 'Browser origins allowed to call the API (`https://app.example.com`), or every subdomain of a domain (`https://*.example.com`: one label or more, not `example.com` itself; no other wildcard is accepted); empty: CORS off, and a state-changing request from any other origin is 403.',
  },
  {
    key: 'api.allowedHosts',
    env: 'API_ALLOWED_HOSTS',
    type: 'list',
    default: '',
    doc: 'Accepted `Host` header names (`scheduler.example.com`, `scheduler.example.com:8443`): anything else is 403 (DNS rebinding). Empty: any host, except that anonymous loopback access needs a loopback name (`localhost`, `127.0.0.1`, `[::1]`).',
  },
  {
    key: 'api.trustProxy',
    env: 'API_TRUST_PROXY',
    type: 'list',
    default: '',
    doc: 'Proxies in front of the service whose `X-Forwarded-For` is believed: addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal` (e.g. `loopback` for nginx on the same host). The client is then the nearest address in `X-Forwarded-For` that is not one of them; it decides protected mode, rate-limit buckets and the per-client limits, and `X-Forwarded-Proto` says whether the request came over HTTPS. Empty: no proxy is trusted, and a request carrying `Forwarded`, `X-Forwarded-For` or `X-Real-IP` is never taken as a loopback client.',
  },
  {
    key: 'log.level',
    env: 'LOG_LEVEL',
    type: 'level',
    default: 'info',
    doc: 'pino level: fatal, error, warn, info, debug, trace, silent. `debug` logs what happened to each message.',
  },
] as const satisfies readonly KeySpec[];

export type ConfigKey = (typeof CONFIG_KEYS)[number]['key'];

/** A variable the service reads that is not a file key (EnvSpec), with its default and meaning. */
export interface EnvSpec {
  readonly env: string;
  /** '' : unset */
  readonly default: string;
  readonly secret?: Secrecy;
  readonly doc: string;
}

/**
 * Environment variables that are not file keys (the original's, the stores', OpenTelemetry's): every
 * other variable the service reads. A test reads src/ for the variables it reads and finds each one here or in
 * CONFIG_KEYS, and the README's table is written from this list.
 */
export const ENV_ONLY = [
  {
    env: 'PORT',
    default: ':3000',
    doc: 'HTTP listen address as the original took it: `:3000` or `3000` (every interface, or `HOST`), `127.0.0.1:3000`, `[::1]:3000`. A host in `PORT` and a different `HOST` stop start-up.',
  },
  {
    env: 'HOST',
    default: '0.0.0.0',
    doc: 'HTTP listen address when `PORT` names none.',
  },
  {
    env: 'CONFIG_PATH',
    default: '.config',
    doc: 'Folder of the config file: absolute (`/etc/message-scheduler`, as containers mount it) or relative to the working directory.',
  },
  { env: 'CONFIG_ENV', default: 'dev', doc: 'Config file name without `.yaml`.' },
  {
    env: 'SQLITE_PATH',
    default: './data/messages.db',
    doc: 'SQLite file, used when neither `MONGODB_URI` nor `DATABASE_URL` is set.',
  },
  {
    env: 'DATABASE_URL',
    default: '',
    secret: 'url',
    doc: 'PostgreSQL URL; selects the PostgreSQL store.',
  },
  {
    env: 'DATABASE_SCHEMA',
    default: 'public',
    doc: 'PostgreSQL schema holding the tables (created when missing). Nodes share a cluster when they share the database and the schema.',
  },
  {
    env: 'MONGODB_URI',
    default: '',
    secret: 'url',
    doc: 'MongoDB URI; selects the MongoDB store (wins over `DATABASE_URL`).',
  },
  { env: 'MESSAGES_DB_NAME', default: 'messages', doc: 'MongoDB database.' },
  {
    env: 'MESSAGES_COLLECTION_NAME',
    default: 'messages',
    doc: 'MongoDB collection (and prefix of the helper collections).',
  },
  {
    env: 'REDIS_URI',
    default: '',
    secret: 'url',
    doc: 'Redis as `host:port` (as the original) or `redis://` URL; unset → in-memory cache.',
  },
  { env: 'REDIS_PASSWORD', default: '', secret: true, doc: 'Redis password (never logged).' },
  { env: 'REDIS_DB', default: '0', doc: 'Redis database number.' },
  {
    env: 'WEBHOOK_URL',
    default: '',
    secret: 'url',
    doc: 'Full webhook URL; overrides `webhookClient.host` + `webhookClient.path`.',
  },
  {
    env: 'OTEL_SDK_DISABLED',
    default: 'false',
    doc: '`true`: tracing off, whatever else is set.',
  },
  {
    env: 'OTEL_TRACES_EXPORTER',
    default: '',
    doc: '`otlp` or unset: export when an endpoint is set; `none`: tracing off.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_ENDPOINT',
    default: '',
    secret: 'url',
    doc: 'OTLP receiver (`http://collector:4318`); set: tracing on (README, Tracing).',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
    default: '',
    secret: 'url',
    doc: 'OTLP receiver for traces only; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_PROTOCOL',
    default: 'http/protobuf',
    doc: '`http/protobuf`, `http/json` or `grpc`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
    default: '',
    doc: 'The protocol for traces only; wins over `OTEL_EXPORTER_OTLP_PROTOCOL`.',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_HEADERS',
    default: '',
    secret: 'headers',
    doc: 'Headers sent to the receiver, `key=value,...` (a token: never logged).',
  },
  {
    env: 'OTEL_EXPORTER_OTLP_TRACES_HEADERS',
    default: '',
    secret: 'headers',
    doc: 'Headers for traces only, as `OTEL_EXPORTER_OTLP_HEADERS`.',
  },
  {
    env: 'OTEL_SERVICE_NAME',
    default: 'message-scheduler',
    doc: 'The `service.name` of every span.',
  },
  {
    env: 'OTEL_TRACES_SAMPLER',
    default: 'parentbased_always_on',
    doc: '`always_on`, `always_off`, `traceidratio`, or their `parentbased_` forms: which traces are kept (the cost lever).',
  },
  {
    env: 'OTEL_TRACES_SAMPLER_ARG',
    default: '',
    doc: 'The ratio of `traceidratio` samplers, 0 to 1 (unset: 1).',
  },
  {
    env: 'OTEL_BSP_SCHEDULE_DELAY',
    default: '5000',
    doc: "Longest wait before a batch of spans is exported, in ms (the SDK's batch span processor).",
  },
  {
    env: 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE',
    default: '512',
    doc: 'Most spans in one export.',
  },
  {
    env: 'OTEL_BSP_MAX_QUEUE_SIZE',
    default: '2048',
    doc: 'Most spans waiting for export; more are dropped and counted.',
  },
] as const satisfies readonly EnvSpec[];

export type EnvName = (typeof ENV_ONLY)[number]['env'];

/** The default of an environment-only variable, written once (above). */
export function envDefault(name: EnvName): string {
  return ENV_ONLY.find((e) => e.env === name)?.default ?? '';
}

/** `env[name]`, or its default when unset or empty. */
export function envOr(env: Record<string, string | undefined>, name: EnvName): string {
  return env[name] || envDefault(name);
}

type Spec = (typeof CONFIG_KEYS)[number];
/** The file keys of one type: a lookup of a key that does not exist, or of another type, does not compile. */
type KeyOfType<T extends KeyType> = Extract<Spec, { type: T }>['key'];
export type NumberKey = KeyOfType<'duration' | 'int' | 'number'>;
export type BoolKey = KeyOfType<'bool'>;
export type StringKey = KeyOfType<'string' | 'url' | 'level'>;
export type ListKey = KeyOfType<'list'>;
export type ChoiceKey = KeyOfType<'choice'>;
/** The values a `choice` key allows, as a union of its literals. */
export type ChoiceOf<K extends ChoiceKey> =
  Extract<Spec, { key: K }> extends { choices: readonly (infer C)[] } ? C : never;

/** Typed reads of the loaded values (src/config/config.ts builds them once, for every part of the config). */
export interface Lookups {
  num(key: NumberKey): number;
  bool(key: BoolKey): boolean;
  str(key: StringKey): string;
  list(key: ListKey): string[];
  choice<K extends ChoiceKey>(key: K): ChoiceOf<K>;
}
