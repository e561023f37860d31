import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/codes.js';
import type { ApiDeps } from '../deps.js';
import { jsonResponse, MethodNotAllowedResponse } from '../schemas.js';
import { actorOf } from '../access.js';

const ACTIONS = ['start', 'pause'] as const;
const EXPECTED =
  'expected {"action": "start"} or {"action": "pause"} as JSON, or action=start / action=pause as a form';

/**
 * The action of a JSON or form body. The field's name in any letter case (`Action`), as the
 * original's decoder matched it when no field is named exactly `action`; the value as written.
 */
function actionOf(body: unknown): unknown {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return undefined;
  const fields = body as Record<string, unknown>;
  if ('action' in fields) return fields.action;
  const key = Object.keys(fields).find((k) => k.toLowerCase() === 'action');
  return key === undefined ? undefined : fields[key];
}

/**
 * The original's worker-pool control. Its handler took JSON or a form body
 * (`curl -d action=pause`) and answered 400 to any other body; so does this
 * one, in its own encapsulated context (the form parser serves no other route).
 */
export const workerPoolRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('*', (req, _payload, done) => {
    done(
      new AppError(
        'INVALID_ACTION',
        `a ${req.headers['content-type'] ?? 'body'} body is not accepted: ${EXPECTED}`,
      ),
      undefined,
    );
  });

  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const stateRef = Type.Ref('PoolState');
  const errorRef = Type.Ref('Error');
  const commonErrors = { 405: MethodNotAllowedResponse };

  r.get(
    '/worker-pool/state',
    {
      config: { scope: 'pool:control' },
      schema: {
        tags: ['worker-pool'],
        operationId: 'getWorkerPoolState',
        summary: "The cluster's pool state, and each live node's view",
        response: { 200: jsonResponse('The pool state.', stateRef), ...commonErrors },
      },
    },
    async () => ({ status: deps.pool.getState(), nodes: await deps.pool.nodes() }),
  );

  r.get(
    '/nodes',
    {
      config: { scope: 'pool:control' },
      schema: {
        tags: ['worker-pool'],
        operationId: 'listNodes',
        summary: 'The live nodes sharing this store',
        description: 'Heard from within pool.nodeTimeout, by id.',
        response: { 200: jsonResponse('Every live node.', Type.Array(Type.Ref('Node'))), ...commonErrors },
      },
    },
    async () => deps.pool.nodes(),
  );

  const action = Type.Ref('PoolAction');
  r.put(
    '/worker-pool/state',
    {
      config: { scope: 'pool:control' },
      schema: {
        tags: ['worker-pool'],
        operationId: 'setWorkerPoolState',
        summary: 'Start or pause the worker pool (as the original)',
        description:
          'The state is stored: every node sharing the store follows it within pool.stateSyncInterval (this one at once), a restarted node too. Pause stops claiming; deliveries in flight finish. The body is JSON or a form (`action=pause`); any other body is 400, as the original answered.',
        body: {
          content: {
            'application/json': { schema: action },
            'application/x-www-form-urlencoded': { schema: action },
          },
        },
        response: {
          200: jsonResponse('The state after the action.', stateRef),
          400: jsonResponse('Not start or pause, or not a JSON or form body (INVALID_ACTION).', errorRef),
          413: jsonResponse('The body is larger than api.bodyLimit (PAYLOAD_TOO_LARGE).', errorRef),
          ...commonErrors,
        },
      },
      // the action is checked here so the error can name the valid actions
      attachValidation: true,
    },
    async (req) => {
      const act = actionOf(req.body);
      if (act !== 'start' && act !== 'pause') {
        throw new AppError(
          'INVALID_ACTION',
          `invalid action ${JSON.stringify(act ?? null)}: ${EXPECTED} (valid actions: ${ACTIONS.join(', ')})`,
        );
      }
      const actor = actorOf(req);
      const status = await deps.pool.setState(act === 'start' ? 'running' : 'paused', actor.actor);
      req.log.info({ ...actor, action: act, state: status }, 'worker pool action');
      return { status };
    },
  );
};
