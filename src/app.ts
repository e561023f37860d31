import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config/config.js';
import type { Logger } from './logging/logger.js';
import type { MessageStore } from './store/store.js';
import { createStore } from './store/create-store.js';
import { MemoryCache, type Cache } from './cache/cache.js';
import { RedisCache } from './cache/redis-cache.js';
import { WebhookClient, type Deliverer } from './delivery/webhook-client.js';
import { Metrics } from './metrics/metrics.js';
import { MetricsServer } from './metrics/metrics-server.js';
import { StoreCounts } from './metrics/store-counts.js';
import { timedStore } from './metrics/timed-store.js';
import type { Tracing } from './tracing/tracing.js';
import type { ApiAccess, RequestTracing } from './api/deps.js';
import { ThreadedDeliverer } from './delivery/threaded-deliverer.js';
import {
  DEFAULT_DESTINATION,
  SharedOutRateLimiter,
  UnlimitedRateLimiter,
  type RateLimiter,
} from './ratelimit/delivery-limiter.js';
import { WorkerPool } from './worker/worker-pool.js';
import { buildServer } from './api/server.js';
import { createAccess } from './api/create-access.js';
import { ClusterNode } from './cluster/cluster-node.js';
import type { ClusterSignals } from './cluster/signals.js';
import { canSignal, type SignalTransport } from './store/signal-transport.js';
import { seedMessages, type SeedReport } from './seed/seed.js';

function readVersion(): string {
  // src/app.ts runs from src/ (tsx) or dist/src/ (built)
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'message-scheduler' && pkg.version) return pkg.version;
    } catch {
      // try the next
    }
  }
  return '0.0.0';
}

export const VERSION = readVersion();

export interface App {
  server: FastifyInstance;
  pool: WorkerPool;
  cluster: ClusterNode;
  store: MessageStore;
  cache: Cache;
  nodeId: string;
  /** the metrics.listen listener, when configured */
  metricsServer: MetricsServer | null;
  /** the API's access control (keys, OAuth2, rate limits) */
  access: ApiAccess;
  /** stops claiming, finishes or releases in-flight deliveries, closes everything */
  close(): Promise<void>;
}

export interface AppOverrides {
  store?: MessageStore;
  deliverer?: Deliverer;
  cache?: Cache;
}

export async function createCache(config: Config): Promise<Cache> {
  if (!config.redis) return new MemoryCache();
  const cache = new RedisCache(config.redis, config.cache.keyPrefix);
  await cache.connect();
  return cache;
}

export async function seedFromFile(store: MessageStore, file: string, logger: Logger): Promise<SeedReport> {
  let rows: unknown;
  try {
    rows = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    return {
      inserted: 0,
      skipped: 0,
      errors: [{ index: -1, reason: `cannot read ${file}: ${(err as Error).message}` }],
    };
  }
  const report = await seedMessages(store, rows);
  for (const e of report.errors) logger.warn({ file, row: e.index, reason: e.reason }, 'seed row rejected');
  logger.info(
    { file, inserted: report.inserted, skipped: report.skipped, rejected: report.errors.length },
    'seeded',
  );
  return report;
}

const CACHE_DROP_REPORT_MS = 10_000;
/** After pool.timeout, how long requests still in flight may take before their connections are destroyed. */
const SHUTDOWN_GRACE_MS = 1000;

/**
 * Cache writes that fail are dropped (the store is the record). One warning
 * names the first message and the error; during an outage a summary follows
 * every `everyMs` instead of one line per message.
 */
class DropReporter {
  private count = 0;
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly logger: Logger,
    private readonly everyMs: number,
  ) {}

  add(messageId: string, error: string): void {
    if (this.timer) {
      this.count++;
      return;
    }
    this.logger.warn({ message_id: messageId, err: error }, 'cache write dropped');
    this.timer = setTimeout(() => this.report(), this.everyMs);
    this.timer.unref();
  }

  private report(): void {
    this.timer = null;
    if (this.count === 0) return;
    this.logger.warn({ dropped: this.count, seconds: this.everyMs / 1000 }, 'cache writes dropped');
    this.count = 0;
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.report();
  }
}

/**
 * Pushes between nodes (docs/decisions.md, "Wake-ups across nodes"): Redis pub/sub when REDIS_URI is
 * set, PostgreSQL LISTEN/NOTIFY on a PostgreSQL store, none otherwise (polling). A push that cannot
 * start is logged and polling serves.
 */
async function createSignals(config: Config, store: MessageStore, logger: Logger): Promise<ClusterSignals> {
  const { NoSignals, TransportSignals } = await import('./cluster/signals.js');
  const s = config.store;
  const scope =
    s.kind === 'postgres'
      ? `pg:${s.databaseSchema}`
      : s.kind === 'mongodb'
        ? `mongo:${s.mongoDbName}.${s.mongoCollection}`
        : `sqlite:${s.sqlitePath}`;
  let transport: SignalTransport | null = null;
  if (config.redis) {
    const { RedisTransport } = await import('./cluster/redis-transport.js');
    transport = new RedisTransport(config.redis, `${config.cache.keyPrefix}ms:signals:${scope}`);
  } else if (canSignal(store)) transport = store.signalTransport();
  if (!transport) return new NoSignals();
  const signals = new TransportSignals(transport, logger);
  try {
    await signals.start();
    return signals;
  } catch (err) {
    logger.warn({ err }, 'cluster signals cannot start: nodes learn of changes by polling');
    await signals.close();
    return new NoSignals();
  }
}

/**
 * The delivery gate (docs/decisions.md, "One rate limit for the cluster"): with Redis one bucket for
 * the cluster; without it, each node takes its share (the rate divided by the live delivering nodes).
 */
async function createDeliveryLimiter(
  config: Config,
  logger: Logger,
  deliverers: () => number,
): Promise<RateLimiter & { close?: () => Promise<void> }> {
  if (!config.rateLimiter.enabled) return new UnlimitedRateLimiter();
  const policy = {
    maxTokens: config.rateLimiter.maxTokens,
    refillRate: config.rateLimiter.refillRate,
    refillIntervalMs: config.rateLimiter.refillIntervalMs,
  };
  if (!config.redis) return new SharedOutRateLimiter(policy, deliverers);
  const share = new SharedOutRateLimiter(policy, deliverers, true);
  const { RedisDeliveryLimiter } = await import('./ratelimit/redis-delivery-limiter.js');
  const redis = new RedisDeliveryLimiter(
    config.redis,
    policy,
    `${config.cache.keyPrefix}ms:ratelimit:delivery:`,
    share,
    logger,
  );
  // not reachable now: the node's share serves until it is (logged by the limiter)
  await redis.connect().catch(() => undefined);
  return redis;
}

/** Wires the store, cache, worker pool and HTTP API from a validated config. */
export async function createApp(config: Config, logger: Logger, overrides: AppOverrides = {}): Promise<App> {
  const nodeId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const rawStore = overrides.store ?? (await createStore(config.store, 10, logger));
  if (!overrides.store) await rawStore.init();
  // late-bound gauges: the pool and the cluster node are made below
  const metrics: Metrics | null = config.metrics.enabled
    ? new Metrics({
        inFlight: (): number => pool.inFlightCount,
        freeSlots: (): number => Math.max(0, config.pool.numWorkers - pool.inFlightCount),
        running: (): boolean => pool.getState() === 'running',
        liveNodes: (): number => cluster.liveDeliverers(),
        ...(config.rateLimiter.enabled
          ? {
              rateLimiterTokens: (): number =>
                limiter.tokens?.(DEFAULT_DESTINATION, Date.now()) ?? Number.NaN,
            }
          : {}),
      })
    : null;
  const store: MessageStore = metrics ? timedStore(rawStore, metrics) : rawStore;
  // OpenTelemetry (OTEL_* variables): off unless an OTLP endpoint is set
  // loaded only when on: with tracing off not one OpenTelemetry module is in the process
  let tracing: Tracing | null = null;
  let requestSpans: RequestTracing | null = null;
  if (config.tracing) {
    const [{ Tracing }, { requestTracing }] = await Promise.all([
      import('./tracing/tracing.js'),
      import('./api/request-tracing.js'),
    ]);
    tracing = Tracing.start(config.tracing, VERSION, config.secrets);
    requestSpans = requestTracing(tracing);
  }
  const cache = overrides.cache ?? (await createCache(config));
  const clientOptions = {
    url: config.webhook.url,
    timeoutMs: config.webhook.timeoutMs,
    signingSecrets: config.webhook.signingSecrets,
    bodyEscaping: config.webhook.bodyEscaping,
    connections: config.pool.numWorkers,
    userAgent: `message-scheduler/${VERSION}`,
  };
  const deliverer =
    overrides.deliverer ??
    (config.pool.deliveryThreads > 0
      ? new ThreadedDeliverer(clientOptions, config.pool.deliveryThreads)
      : new WebhookClient(clientOptions));
  const limiter = await createDeliveryLimiter(config, logger, () => cluster.liveDeliverers());
  // the pool and the cluster node start from the same state and delivery mode
  const initialState = config.pool.initialRunning ? 'running' : 'paused';
  const atMostOnce = config.deliveryMode === 'at-most-once';
  const pool: WorkerPool = new WorkerPool({
    store,
    deliverer,
    limiter,
    retry: config.retry,
    owner: nodeId,
    numWorkers: config.pool.numWorkers,
    leaseMs: config.pool.leaseMs,
    pollIntervalMs: config.worker.jobIntervalMs,
    initialState,
    atMostOnce,
    // late-bound: the cluster node drives the pool and fences it
    fence: { fenced: () => cluster.fence.fenced(), generation: () => cluster.fence.generation() },
    logger,
    ...(tracing ? { tracer: tracing.poolTracer(config.webhook.url) } : {}),
  });
  const cluster: ClusterNode = new ClusterNode({
    control: store.control,
    messages: store,
    pool,
    nodeId,
    role: config.role,
    version: VERSION,
    heartbeatMs: config.pool.heartbeatMs,
    nodeTimeoutMs: config.pool.nodeTimeoutMs,
    stateSyncMs: config.pool.stateSyncMs,
    initialState,
    atMostOnce,
    logger,
  });
  await cluster.start();
  const signals = await createSignals(config, rawStore, logger);
  signals.onSignal((signal) => {
    if (signal === 'state') void cluster.syncNow();
    else pool.notify();
  });

  // the original's cache write: messageId → sent_at, with a TTL. The store is the
  // truth; a failed cache write is logged and dropped rather than retried.
  const dropped = new DropReporter(logger, CACHE_DROP_REPORT_MS);
  const counts = metrics
    ? new StoreCounts({
        store,
        metrics,
        nodeId,
        liveNodeIds: async () => (await cluster.nodes()).map((n) => n.id),
        everyMs: config.metrics.countIntervalMs,
        logger,
      })
    : null;
  counts?.start();
  let metricsServer: MetricsServer | null = null;
  if (metrics && config.metrics.listen) {
    metricsServer = new MetricsServer(
      metrics,
      {
        headersTimeoutMs: config.api.headersTimeoutMs,
        requestTimeoutMs: config.api.requestTimeoutMs,
        keepAliveTimeoutMs: config.api.keepAliveTimeoutMs,
        maxConnections: config.api.maxConnections,
        maxPerClient: config.api.maxConnectionsPerClient,
      },
      logger,
    );
    const where = await metricsServer.listen(config.metrics.listen.host, config.metrics.listen.port);
    logger.info({ address: where.address, port: where.port }, 'metrics listener (no authentication)');
  }
  // one listener for the metrics and the cache: an emitter with two copies its listener list per event
  pool.events.on('outcome', (e) => {
    metrics?.outcome(e);
    if (e.outcome.kind !== 'sent' || !e.applied || !e.outcome.webhookResponseMessageId) return;
    cache
      .set(e.outcome.webhookResponseMessageId, e.outcome.sentAt.toISOString(), config.cache.ttlMs)
      .catch((err: unknown) => {
        metrics?.cacheWriteDropped();
        dropped.add(e.message.id, (err as Error).message);
      });
  });

  const access = await createAccess(config, store, logger);
  await access.start();
  const server = await buildServer({
    store,
    cache,
    pool: {
      getState: () => pool.getState(),
      setState: async (state, by) => {
        const set = await cluster.setState(state, by);
        signals.publish('state');
        return set;
      },
      nodes: () => cluster.nodes(),
    },
    onCreated: () => {
      pool.notify();
      signals.publish('wake');
    },
    logger,
    access: access.access,
    limits: config.api,
    ...(metrics ? { metrics } : {}),
    ...(requestSpans ? { tracing: requestSpans } : {}),
    // the API waits its turn only where it shares the thread with deliveries
    ...(config.role === 'all' ? { delivering: () => pool.getState() === 'running' } : {}),
    version: VERSION,
    routes: config.role === 'worker' ? 'probes' : 'all',
  });

  let closed = false;
  return {
    server,
    pool,
    cluster,
    store,
    cache,
    nodeId,
    metricsServer,
    access: access.access,
    async close() {
      if (closed) return;
      closed = true;
      dropped.close();
      await counts?.stop();
      await metricsServer?.close();
      await server.close();
      const { finished, released } = await pool.stop(config.pool.timeoutMs);
      logger.info({ finished, released, ...pool.stats() }, 'worker pool stopped');
      await cluster.stop();
      await signals.close();
      await limiter.close?.();
      // the pool waited pool.timeout for in-flight deliveries and released the rest: a
      // receiver that still holds a request does not hold the process
      await deliverer.close(SHUTDOWN_GRACE_MS);
      await access.close();
      await cache.close();
      await store.close();
      // last: the spans of the shutdown itself are exported too
      await tracing?.close();
    },
  };
}
