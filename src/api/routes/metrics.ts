import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps.js';
import { MethodNotAllowedResponse } from '../schemas.js';

/** `GET /metrics`: this node's Prometheus metrics (docs/operations.md). */
export const metricsRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const metrics = deps.metrics;
  if (!metrics) return;
  app.get(
    '/metrics',
    {
      config: { scope: 'metrics:read' },
      schema: {
        tags: ['health'],
        operationId: 'metrics',
        summary: "This node's metrics, in the Prometheus text format",
        description:
          'Counters, histograms and gauges of this node; `message_scheduler_messages` and `message_scheduler_oldest_due_age_seconds` are exported by one node of the cluster only, so they can be summed across nodes.',
        response: {
          200: {
            description: 'Prometheus text exposition format 0.0.4.',
            content: { 'text/plain': { schema: Type.String() } },
          },
          405: MethodNotAllowedResponse,
        },
      },
    },
    async (_req, reply) => {
      const text = await metrics.text();
      return reply.type(metrics.contentType).send(text);
    },
  );
};
