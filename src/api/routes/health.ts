import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { ApiDeps } from '../server.js';

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

export function healthRoutes(app: FastifyInstance, deps: ApiDeps): void {
  app.get(
    '/healthz',
    {
      schema: {
        tags: ['health'],
        summary: 'The process is up',
        response: { 200: Type.Object({ status: Type.Literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  const Ready = Type.Object({
    status: Type.Union([Type.Literal('ready'), Type.Literal('not_ready')]),
    checks: Type.Record(Type.String(), Type.String()),
    code: Type.Optional(Type.String()),
    error: Type.Optional(Type.String()),
  });
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['health'],
        summary: 'The store answers (Redis is reported, but a cache outage does not stop delivery)',
        response: { 200: Ready, 503: Ready },
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
      return reply.status(503).send({ ...body, code: 'NOT_READY', error: 'the store does not answer' });
    },
  );
}
