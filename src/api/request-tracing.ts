import { SpanStatusCode, type Span } from '@opentelemetry/api';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RequestTracing } from './deps.js';
import { logIds, traceparentOf, type Tracing } from '../tracing/tracing.js';

/**
 * A SERVER span per API request, from the first hook (before authentication, so refused
 * requests are traced too) to the response or the client's disconnect. The request's log
 * lines carry its trace_id and span_id.
 */
export function requestTracing(tracing: Tracing): RequestTracing {
  const spans = new WeakMap<FastifyRequest, Span>();
  const end = (req: FastifyRequest, status: number | null): void => {
    const span = spans.get(req);
    if (!span) return;
    spans.delete(req);
    if (status === null) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'the client closed the connection first' });
    } else {
      span.setAttribute('http.response.status_code', status);
      // a server span is in error for a 5xx only: a 4xx is the client's mistake
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  };
  return {
    install(app: FastifyInstance): void {
      app.addHook('onRequest', async (req) => {
        const q = req.url.indexOf('?');
        const span = tracing.startRequest(
          req.method,
          req.routeOptions.url,
          q < 0 ? req.url : req.url.slice(0, q),
          req.headers,
        );
        spans.set(req, span);
        req.log = req.log.child(logIds(span));
      });
      app.addHook('onResponse', async (req, reply) => end(req, reply.statusCode));
      app.addHook('onRequestAbort', async (req) => end(req, null));
    },
    traceparent(req: FastifyRequest): string | null {
      const span = spans.get(req);
      return span ? traceparentOf(span) : null;
    },
  };
}
