import type { FastifyInstance } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/codes.js';
import type { ApiDeps } from '../server.js';

const ACTIONS = ['start', 'pause'] as const;

export function workerPoolRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const stateRef = Type.Ref('PoolState');
  const errorRef = Type.Ref('Error');

  r.get(
    '/worker-pool/state',
    { schema: { tags: ['worker-pool'], summary: 'Worker pool state', response: { 200: stateRef } } },
    async () => ({ status: deps.pool.getState() }),
  );

  r.put(
    '/worker-pool/state',
    {
      schema: {
        tags: ['worker-pool'],
        summary: 'Start or pause the worker pool (as the original)',
        description: 'Pause stops claiming at once; deliveries in flight finish.',
        body: Type.Ref('PoolAction'),
        response: { 200: stateRef, 400: errorRef, 415: errorRef },
      },
      // the action is checked here so the error can name the valid actions
      attachValidation: true,
    },
    async (req) => {
      const body = req.body as { action?: unknown } | undefined;
      const action = body && typeof body === 'object' ? body.action : undefined;
      if (action === 'start') deps.pool.resume();
      else if (action === 'pause') deps.pool.pause();
      else {
        throw new AppError(
          'INVALID_ACTION',
          `invalid action ${JSON.stringify(action ?? null)}: expected {"action": "start"} or {"action": "pause"} (valid actions: ${ACTIONS.join(', ')})`,
        );
      }
      return { status: deps.pool.getState() };
    },
  );
}
