import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

/**
 * `metrics.listen`: GET /metrics on a listener of its own, without
 * authentication, for a Prometheus that reaches an internal address only.
 * Anything else is 404 (another path) or 405 (another method), in the API's error shape.
 */
export class MetricsServer {
  private readonly server: Server;

  constructor(private readonly metrics: Metrics) {
    this.server = createServer((req, res) => {
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
    this.server.keepAliveTimeout = 65_000;
    this.server.requestTimeout = 10_000;
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
