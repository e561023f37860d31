import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Cache } from '../cache/cache.js';
import type { Metrics } from '../metrics/metrics.js';
import type { WorkerPool } from '../worker/worker-pool.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { Overview } from '../dashboard/overview.js';
import { uiFilesDir } from '../dashboard/ui-files.js';
import type { ClusterSignals } from '../cluster/signals.js';
import type { RequestTracing } from '../api/deps.js';
import { buildServer } from '../api/server.js';
import { VERSION } from './version.js';
import type { DestinationRegistry } from '../destinations/registry.js';
import type { DestinationService } from '../destinations/destination-service.js';
import { DestinationHealth } from '../destinations/health.js';
import type { ScheduleService } from '../schedules/schedule-service.js';

/** The HTTP API over this node's parts (not listening yet: the CLI listens once the node is up). */
export function createApi(
  config: Config,
  parts: {
    store: MessageStore;
    destinations: { registry: DestinationRegistry; service: DestinationService };
    schedules: ScheduleService;
    /** new messages were stored: wake the pools */
    onCreated: () => void;
    cache: Cache;
    pool: WorkerPool;
    cluster: ClusterNode;
    signals: ClusterSignals;
    access: Parameters<typeof buildServer>[0]['access'];
    metrics: Metrics | null;
    requests: RequestTracing | null;
    logger: Logger;
  },
): Promise<FastifyInstance> {
  const { pool, cluster, signals } = parts;
  return buildServer({
    store: parts.store,
    destinations: parts.destinations.service,
    registry: parts.destinations.registry,
    health: new DestinationHealth({
      store: parts.store.health,
      flow: pool.flow ?? null,
      windowMs: config.destinations.breaker.windowMs,
      now: Date.now,
    }),
    cache: parts.cache,
    pool: {
      getState: () => pool.getState(),
      setState: async (state, by) => {
        const set = await cluster.setState(state, by);
        signals.publish('state');
        return set;
      },
      nodes: () => cluster.nodes(),
    },
    schedules: parts.schedules,
    overview: new Overview({ store: parts.store, liveNodes: () => cluster.liveNodes() }),
    ...(config.ui.enabled ? { ui: { dir: uiFilesDir() } } : {}),
    onCreated: parts.onCreated,
    logger: parts.logger,
    access: parts.access,
    limits: config.api,
    ...(parts.metrics ? { metrics: parts.metrics } : {}),
    ...(parts.requests ? { tracing: parts.requests } : {}),
    // the API waits its turn only where it shares the thread with deliveries
    ...(config.role === 'all' ? { delivering: () => pool.getState() === 'running' } : {}),
    version: VERSION,
    routes: config.role === 'worker' ? 'probes' : 'all',
  });
}
