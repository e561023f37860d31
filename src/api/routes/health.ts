import type { FastifyPluginAsync } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../deps.js';
import { Headers, jsonResponse, MethodNotAllowedResponse, StringEnum } from '../schemas.js';
import { RETRY_AFTER_S } from '../error-handler.js';

async function check(name: string, fn: () => Promise<void>, timeoutMs: number): Promise<[string, string]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs}ms`)), timeoutMs);
      }),
    ]);
    return [name, 'ok'];
  } catch (err) {
    return [name, (err as Error).message || 'error'];
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        operationId: 'healthz',
        summary: 'The process is up',
        response: {
          200: jsonResponse('The process answers.', Type.Object({ status: StringEnum(['ok'] as const) })),
          405: MethodNotAllowedResponse,
        },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const Ready = Type.Object({
    status: StringEnum(['ready', 'not_ready'] as const),
    checks: Type.Record(Type.String(), Type.String()),
    code: Type.Optional(Type.String()),
    error: Type.Optional(Type.String()),
  });
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        operationId: 'readyz',
        summary: 'The store answers (Redis is reported, but a cache outage does not stop delivery)',
        response: {
          200: jsonResponse('The store answers.', Ready),
          405: MethodNotAllowedResponse,
          503: jsonResponse('The store does not answer (NOT_READY).', Ready, {
            'retry-after': Headers.retryAfter,
          }),
        },
      },
    },
    async (_req, reply) => {
      const checks = await Promise.all([
        check('store', () => deps.store.ping(), 2000),
        ...(deps.cache.kind === 'redis' ? [check('redis', () => deps.cache.ping(), 2000)] : []),
      ]);
      // only the store decides: without Redis the node still stores and delivers (cache writes are dropped)
      const ok = checks.every(([name, v]) => v === 'ok' || name === 'redis');
      const body = {
        status: ok ? ('ready' as const) : ('not_ready' as const),
        checks: Object.fromEntries(checks),
      };
      if (ok) return body;
      return reply
        .status(503)
        .header('retry-after', RETRY_AFTER_S)
        .send({ ...body, code: 'NOT_READY', error: 'the store does not answer' });
    },
  );
};
