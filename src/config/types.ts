/** The validated configuration (config.ts loads it) and the types of its parts. */
import type { ChoiceOf } from './keys.js';
import type { AuthConfig } from './auth-config.js';
import type { TracingConfig } from './tracing-config.js';
export type StoreKind = 'sqlite' | 'postgres' | 'mongodb';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface StoreConfig {
  kind: StoreKind;
  sqlitePath: string;
  databaseUrl: string;
  /** PostgreSQL schema holding the tables */
  databaseSchema: string;
  mongodbUri: string;
  mongoDbName: string;
  mongoCollection: string;
}

export interface RedisConfig {
  host: string;
  port: number;
  password: string;
  db: number;
  tls: boolean;
  username: string;
}

export type DeliveryMode = ChoiceOf<'delivery.mode'>;
export type NodeRole = ChoiceOf<'node.role'>;

/** The bytes of a webhook body: Go's `json.Marshal` escaping (`go`) or plain JSON (src/delivery/webhook-body.ts). */
export type BodyEscaping = ChoiceOf<'webhookClient.bodyEscaping'>;

export interface Config {
  host: string;
  port: number;
  store: StoreConfig;
  redis: RedisConfig | null;
  worker: { jobIntervalMs: number };
  seedAtStart: boolean;
  /** signingSecrets: the first signs alone; several sign every request once each (rotation) */
  webhook: { url: string; timeoutMs: number; signingSecrets: string[]; bodyEscaping: BodyEscaping };
  cache: { ttlMs: number; keyPrefix: string };
  pool: {
    numWorkers: number;
    timeoutMs: number;
    initialRunning: boolean;
    leaseMs: number;
    /** messages due within this are claimed early and held until due (0: off) */
    claimAheadMs: number;
    deliveryThreads: number;
    heartbeatMs: number;
    nodeTimeoutMs: number;
    stateSyncMs: number;
  };
  rateLimiter: { enabled: boolean; maxTokens: number; refillRate: number; refillIntervalMs: number };
  retry: { maxAttempts: number; baseDelayMs: number; maxDelayMs: number };
  /** destinations made over the API or the CLI: where they may not connect, how often nodes re-read them */
  destinations: {
    denyAddresses: string[];
    refreshMs: number;
    /** when a destination's circuit opens, and for how long (destinations/circuit-breaker.ts) */
    breaker: BreakerSettings;
    /** failing without a success this long disables a destination (0: never) */
    disableAfterMs: number;
  };
  /** the scheduler (src/schedules/): whether this node runs it, how often, how far ahead */
  schedules: {
    enabled: boolean;
    intervalMs: number;
    lookaheadMs: number;
    missedAfterMs: number;
    catchUpMax: number;
  };
  /** where the operational events go (null: nowhere) */
  events: { destination: string } | { topic: string } | null;
  deliveryMode: DeliveryMode;
  role: NodeRole;
  /** `listen`: a listener of its own for GET /metrics, without authentication (null: none) */
  metrics: {
    enabled: boolean;
    countIntervalMs: number;
    listen: { host: string; port: number } | null;
    /** destinations with a `destination` label value of their own (the rest: `other`) */
    destinationLabels: number;
  };
  /** OpenTelemetry traces, from the standard OTEL_* variables (null: off, the default) */
  tracing: TracingConfig | null;
  api: {
    bodyLimit: number;
    requestTimeoutMs: number;
    headersTimeoutMs: number;
    keepAliveTimeoutMs: number;
    maxConnections: number;
    /** open connections of one client address at most (http/connection-guard.ts) */
    maxConnectionsPerClient: number;
    /** on an `all` node while delivering: requests worked on at once (0: no bound); the others wait */
    maxConcurrentRequests: number;
    /** requests of one client worked on at once, always; its others wait (api/request-gate.ts) */
    maxConcurrentRequestsPerClient: number;
    /** browser origins allowed by CORS (empty: CORS off) */
    corsOrigins: string[];
    /** accepted Host header values, lower case (empty: any) */
    allowedHosts: string[];
    /** proxies whose X-Forwarded-For is believed (addresses, CIDRs, proxy-addr keywords) */
    trustProxy: string[];
  };
  auth: AuthConfig;
  /** the dashboard at /ui/ */
  ui: { enabled: boolean };
  apiRateLimiter: { enabled: boolean; maxTokens: number; refillRate: number; refillIntervalMs: number };
  logLevel: LogLevel;
  /** every secret value the config holds (settings flagged `secret`): what the logger redacts */
  secrets: readonly string[];
  /** where the file config came from, or null when none was found */
  configFile: string | null;
  /** keys in the file that this version does not know */
  unknownKeys: string[];
  /** `<env>.yml` when `<env>.yaml` is there too (that one is read). */
  ignoredConfigFile: string | null;
}

export type Env = Record<string, string | undefined>;

/** When a destination's circuit opens, and for how long (destinations/circuit-breaker.ts). */
export interface BreakerSettings {
  /** open at this share of failures over the window */
  failureRatio: number;
  /** ...with at least this many attempts in it */
  minRequests: number;
  windowMs: number;
  /** or after this many failures in a row (0: never) */
  consecutiveFailures: number;
  /** open this long before a probe */
  openForMs: number;
}
