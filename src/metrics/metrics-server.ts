import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';
import type { Logger } from '../logging/logger.js';
import { ConnectionGuard, type ConnectionLimits } from '../http/connection-guard.js';

/** The API's timeouts and connection caps (config keys api.*), which this listener follows too. */
export interface ListenerLimits extends ConnectionLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

/**
 * A Prometheus (or two, for HA) needs a connection or two: this listener holds at most this
 * many, and this many per client, or the API's caps if they are lower.
 */
export const METRICS_CONNECTIONS: ConnectionLimits = { maxConnections: 64, maxPerClient: 16 };

/**
 * `metrics.listen`: GET /metrics on a listener of its own, without
 * authentication, for a Prometheus that reaches an internal address only.
 * Anything else is 404 (another path) or 405 (another method), in the API's error shape. It
 * follows the API's timeouts and caps its connections as the API does (per client, idle ones
 * closed first): 2 × 10,000 idle connections once used up the process's file descriptors.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(
    private readonly metrics: Metrics,
    limits: ListenerLimits,
    logger: Logger,
  ) {
    // Node checks request and header deadlines on this period (30 s by default)
    this.server = createServer({ connectionsCheckingInterval: 1000 }, (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const send = (status: number, body: string, type: string, extra: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
        res.end(req.method === 'HEAD' ? undefined : body);
      };
      const error = (status: number, code: string, message: string, extra: Record<string, string> = {}) =>
        send(status, JSON.stringify({ error: message, code }), 'application/json; charset=utf-8', extra);
      if (path !== '/metrics') return error(404, 'NOT_FOUND', 'only /metrics is served here');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return error(405, 'METHOD_NOT_ALLOWED', `${req.method} is not allowed on /metrics`, {
          allow: 'GET, HEAD',
        });
      }
      this.metrics.text().then(
        (text) => send(200, text, this.metrics.contentType),
        () => error(500, 'INTERNAL', 'metrics could not be collected'),
      );
    });
    this.server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    this.server.requestTimeout = limits.requestTimeoutMs;
    this.server.headersTimeout = limits.headersTimeoutMs;
    new ConnectionGuard({
      name: 'metrics',
      logger,
      maxConnections: Math.min(limits.maxConnections, METRICS_CONNECTIONS.maxConnections),
      maxPerClient: Math.min(limits.maxPerClient, METRICS_CONNECTIONS.maxPerClient),
    }).attach(this.server);
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve(this.server.address() as AddressInfo));
    });
  }

  address(): AddressInfo | null {
    return (this.server.address() as AddressInfo | null) ?? null;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
