import type { Config } from '../config/config.js';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Metrics } from '../metrics/metrics.js';
import { MetricsServer } from '../metrics/metrics-server.js';
import { StoreCounts } from '../metrics/store-counts.js';
import type { Tracing } from '../tracing/tracing.js';
import type { RequestTracing } from '../api/deps.js';
import { VERSION } from './version.js';

export interface NodeTracing {
  tracing: Tracing;
  /** the API's span per request */
  requests: RequestTracing;
}

/**
 * OpenTelemetry (OTEL_* variables): off unless an OTLP endpoint is set, and loaded only when on:
 * with tracing off not one OpenTelemetry module is in the process.
 */
export async function startTracing(config: Config): Promise<NodeTracing | null> {
  if (!config.tracing) return null;
  const [{ Tracing }, { requestTracing }] = await Promise.all([
    import('../tracing/tracing.js'),
    import('../api/request-tracing.js'),
  ]);
  const tracing = Tracing.start(config.tracing, VERSION, config.secrets);
  return { tracing, requests: requestTracing(tracing) };
}

/** The message counts by status, exported by one node of the cluster (metrics/store-counts.ts). */
export function startStoreCounts(
  config: Config,
  store: MessageStore,
  metrics: Metrics,
  nodeId: string,
  liveNodeIds: () => Promise<string[]>,
  logger: Logger,
): StoreCounts {
  const counts = new StoreCounts({
    store,
    metrics,
    nodeId,
    liveNodeIds,
    everyMs: config.metrics.countIntervalMs,
    logger,
  });
  counts.start();
  return counts;
}

/** The metrics.listen listener (no authentication), with the API's connection limits. */
export async function listenMetrics(
  config: Config,
  metrics: Metrics,
  logger: Logger,
): Promise<MetricsServer | null> {
  if (!config.metrics.listen) return null;
  const server = new MetricsServer(
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
  const where = await server.listen(config.metrics.listen.host, config.metrics.listen.port);
  logger.info({ address: where.address, port: where.port }, 'metrics listener (no authentication)');
  return server;
}
