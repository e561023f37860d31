import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { Logger } from '../logging/logger.js';
import type { MessageStore } from '../store/store.js';
import type { Cache } from '../cache/cache.js';
import type { PoolState } from '../worker/worker-pool.js';
import { installErrorHandler } from './error-handler.js';
import { SHARED_SCHEMAS, PoolActionSchema } from './schemas.js';
import { messageRoutes } from './routes/messages.js';
import { workerPoolRoutes } from './routes/worker-pool.js';
import { healthRoutes } from './routes/health.js';

// ajv-formats is CommonJS; its default export arrives as the module under NodeNext
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

export interface ApiDeps {
  store: MessageStore;
  cache: Cache;
  pool: { getState(): PoolState; pause(): void; resume(): void };
  /** new messages were stored: wake the worker pool */
  onCreated: () => void;
  logger: Logger;
  bodyLimit: number;
  version: string;
}

function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({
    removeAdditional: false,
    useDefaults: true,
    coerceTypes: coerce ? 'array' : false,
    // bodies: every problem at once, so a batch names each bad row; queries stop at the first
    allErrors: !coerce,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Builds the HTTP API. Request bodies are validated strictly (no type
 * coercion, unknown fields rejected); query strings and params are coerced.
 */
export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimit,
    // per-request lines only at debug level (onResponse hook below): none on the hot path
    logController: new LogController({ disableRequestLogging: true }),
  });

  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  for (const s of [...SHARED_SCHEMAS, PoolActionSchema]) {
    strict.addSchema(s);
    coercing.addSchema(s);
    app.addSchema(s);
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? strict.compile(schema) : coercing.compile(schema),
  );

  // JSON only: any other body is 415, not a string that fails validation
  app.removeContentTypeParser(['text/plain']);
  installErrorHandler(app);
  app.addHook('onResponse', async (req, reply) => {
    req.log.debug(
      { method: req.method, url: req.url, status: reply.statusCode, ms: reply.elapsedTime },
      'request',
    );
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'message-scheduler',
        description:
          'Stores messages and delivers them to a webhook on time. Every error is `{"error": "...", "code": "..."}` (see docs/errors.md).',
        version: deps.version,
      },
      tags: [
        { name: 'messages', description: 'Add, list, inspect and cancel messages' },
        { name: 'worker-pool', description: 'Pause and resume delivery' },
        { name: 'health', description: 'Liveness and readiness' },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/swagger' });

  messageRoutes(app, deps);
  workerPoolRoutes(app, deps);
  healthRoutes(app, deps);
  return app;
}
