import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Logger } from '../logging/logger.js';
import { defaultConfig, type Config } from '../config/config.js';
import type { MessageStore } from '../store/store.js';
import type { Cache } from '../cache/cache.js';
import type { PoolState } from '../worker/worker-pool.js';
import type { AccessOptions } from './access.js';
import type { NodeView } from '../cluster/cluster-node.js';
import type { Metrics } from '../metrics/metrics.js';
import type { DestinationService } from '../destinations/destination-service.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import type { DestinationHealth } from '../destinations/health.js';
import type { ScheduleService } from '../schedules/schedule-service.js';
import type { Overview } from '../dashboard/overview.js';

/** Access control and browser safety (config keys api.auth, auth.*, apiRateLimiter.*, api.cors.*, api.allowedHosts). */
export interface ApiAccess extends AccessOptions {
  /** the OAuth2 token endpoint shown in the OpenAPI document ('' when not configured) */
  tokenUrl: string;
  /** longest life of a key made over HTTP (auth.apiKeyMaxLifetime; 0: no bound) */
  keyMaxLifetimeMs: number;
}

const LIMIT_KEYS = [
  'bodyLimit',
  'requestTimeoutMs',
  'headersTimeoutMs',
  'keepAliveTimeoutMs',
  'maxConnections',
  'maxConnectionsPerClient',
  'maxConcurrentRequests',
  'maxConcurrentRequestsPerClient',
] as const satisfies readonly (keyof Config['api'])[];

/** How long and how many: what a client may hold of the server (config keys api.*, described in config/types.ts). */
export type ApiLimits = Pick<Config['api'], (typeof LIMIT_KEYS)[number]>;

/** The api.* defaults of src/config/keys.ts, for a server built without a config (tests). */
export function defaultApiLimits(): ApiLimits {
  const { api } = defaultConfig();
  return Object.fromEntries(LIMIT_KEYS.map((k) => [k, api[k]])) as ApiLimits;
}

/** Traces of API requests (src/api/request-tracing.ts); absent: tracing is off. */
export interface RequestTracing {
  /** the hooks that make a span per request */
  install(app: FastifyInstance): void;
  /** the W3C traceparent of the request's span, stored with the messages it creates */
  traceparent(req: FastifyRequest): string | null;
}

/** What the routes need: the one file every route module imports (no cycle through server.ts). */
export interface ApiDeps {
  store: MessageStore;
  /** the destinations' rules (create, change, pause, delete) and this node's copy of them */
  destinations: DestinationService;
  registry: DestinationRegistry;
  /** what GET /destinations/{id} shows of a destination's health */
  health?: DestinationHealth;
  /** the schedules' rules (absent: no schedule routes) */
  schedules?: ScheduleService;
  /** GET /overview's figures (absent: no overview) */
  overview?: Overview;
  /** the dashboard's built files (null: not built; absent: no /ui/, ui.enabled false) */
  ui?: { dir: string | null };
  cache: Cache;
  /** the cluster's pool: a state set here is stored, and every node follows it */
  pool: {
    getState(): PoolState;
    setState(state: PoolState, by: string): Promise<PoolState>;
    /** live nodes (heard from within pool.nodeTimeout) */
    nodes(): Promise<NodeView[]>;
  };
  /** new messages were stored: wake the worker pool */
  onCreated: () => void;
  logger: Logger;
  access: ApiAccess;
  limits?: Partial<ApiLimits>;
  /** this node's Prometheus metrics (GET /metrics); absent: metrics.enabled is false */
  metrics?: Metrics;
  tracing?: RequestTracing;
  /** true while this process's own deliveries share its thread (an `all` node whose pool runs) */
  delivering?: () => boolean;
  /** `probes`: only /healthz and /readyz (a worker node); default all */
  routes?: 'all' | 'probes';
  version: string;
}
