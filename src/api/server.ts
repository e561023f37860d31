import { metricsRoutes } from './routes/metrics.js';
import { requestGate, RequestGate } from './request-gate.js';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import helmet from '@fastify/helmet';
import cors from '@fastify/cors';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { clientErrorHandler, errorHandling, frameworkErrorHandler } from './error-handler.js';
import { SHARED_SCHEMAS, PoolActionSchema } from './schemas.js';
import { jsonBodies } from './json-body.js';
import { ConnectionGuard } from '../http/connection-guard.js';
import { loggedUrl } from '../http/logged-url.js';
import { HELMET_OPTIONS, HSTS } from '../http/security-headers.js';
import { messageRoutes } from './routes/messages.js';
import { workerPoolRoutes } from './routes/worker-pool.js';
import { healthRoutes } from './routes/health.js';
import { KeySchema, keyRoutes } from './routes/keys.js';
import { DestinationSchema, destinationRoutes } from './routes/destinations.js';
import { ScheduleSchema, scheduleRoutes } from './routes/schedules.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { uiRoutes } from './routes/ui.js';
import { accessControl, clientOf, originMatcher, PROBE_ROUTES } from './access.js';
import { securityDocs, securitySchemes } from './security-docs.js';
import fp from 'fastify-plugin';
import { defaultApiLimits, type ApiDeps } from './deps.js';

export type { ApiDeps } from './deps.js';

// ajv-formats is CommonJS; its default export arrives as the module under NodeNext
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

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
 * What a client may hold of the server is bounded (docs/decisions.md, "The
 * API bounds what a client can hold"): the whole request, its headers, an idle
 * keep-alive connection, and the number of connections.
 */
export async function buildServer(deps: ApiDeps): Promise<FastifyInstance> {
  const limits = { ...defaultApiLimits(), ...deps.limits };
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: limits.bodyLimit,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    // Node checks request and header deadlines on this period (30 s by default)
    http: { headersTimeout: limits.headersTimeoutMs, connectionsCheckingInterval: 1000 },
    clientErrorHandler,
    // requests that arrive while closing are answered normally (the store is still open), in
    // the error shape when they fail, rather than with Fastify's own 503 body
    return503OnClosing: false,
    // bad URLs and over-long params go through the error handler, in the API's error shape
    frameworkErrors: frameworkErrorHandler,
    // per-request lines only at debug level (onResponse hook below): none on the hot path
    logController: new LogController({ disableRequestLogging: true }),
    // req.ip and req.protocol from X-Forwarded-* only when the peer is a trusted proxy (access.ts)
    trustProxy: deps.access.trustProxy ?? false,
    // as the original's router (Fiber's defaults): /sent-messages/ and /SENT-MESSAGES are
    // /sent-messages; parameters keep their case (docs/decisions.md, "Paths, queries and case")
    routerOptions: { ignoreTrailingSlash: true, caseSensitive: false },
  });
  // connections: a cap per client below the global one, idle ones closed first (connection-guard.ts)
  new ConnectionGuard({
    name: 'api',
    logger: deps.logger,
    maxConnections: limits.maxConnections,
    maxPerClient: limits.maxConnectionsPerClient,
    // a trusted proxy carries every client: its own connections are capped in total only
    ...(deps.access.trustProxy ? { exempt: (a: string) => deps.access.trustProxy?.(a, 0) ?? false } : {}),
  }).attach(app.server);

  const strict = makeAjv(false);
  const coercing = makeAjv(true);
  for (const s of [...SHARED_SCHEMAS, PoolActionSchema, KeySchema, DestinationSchema, ScheduleSchema]) {
    strict.addSchema(s);
    coercing.addSchema(s);
    app.addSchema(s);
  }
  app.setValidatorCompiler(({ schema, httpPart }) =>
    httpPart === 'body' ? strict.compile(schema) : coercing.compile(schema),
  );

  // JSON only: any other body is 415, not a string that fails validation
  app.removeContentTypeParser(['text/plain']);
  // UTF-8 only, bounded depth, text every store keeps: json-body.ts
  await app.register(errorHandling);
  await app.register(jsonBodies);
  // first of the hooks: a request refused by any later one is traced too
  const tracing = deps.tracing;
  if (tracing) await app.register(fp(async (root) => tracing.install(root), { name: 'request-tracing' }));
  // security headers on every answer (http/security-headers.ts); the policy lets Swagger UI (its
  // own scripts and styles) work. Strict-Transport-Security only on answers over HTTPS: a TLS
  // socket, or X-Forwarded-Proto https from a trusted proxy (api.trustProxy)
  await app.register(helmet, HELMET_OPTIONS);
  app.addHook('onSend', async (req, reply) => {
    if (req.protocol === 'https') void reply.header('strict-transport-security', HSTS);
  });
  // CORS only for configured origins; none configured: no CORS headers, browsers keep the same-origin rule
  if (deps.access.corsOrigins.length > 0) {
    const allowed = originMatcher(deps.access.corsOrigins);
    await app.register(cors, {
      // exact origins and subdomain patterns, by the same rule as the cross-site guard (access.ts)
      origin: (origin, cb) => cb(null, origin !== undefined && allowed(origin)),
      methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
      allowedHeaders: ['authorization', 'x-api-key', 'content-type', 'idempotency-key'],
      exposedHeaders: ['link', 'idempotent-replayed', 'retry-after', 'ratelimit', 'ratelimit-policy'],
      maxAge: 600,
    });
  }
  await app.register(accessControl, deps.access);
  // work shared fairly between clients; the total bounded only where deliveries share the thread
  const delivering = deps.delivering;
  await app.register(requestGate, {
    gate: new RequestGate(
      limits.maxConcurrentRequests > 0 && delivering ? limits.maxConcurrentRequests : Infinity,
      delivering ?? (() => false),
      limits.maxConcurrentRequestsPerClient,
    ),
    // what operators and orchestrators need while a client floods: never behind anyone's reads
    exempt: new Set([...PROBE_ROUTES, '/metrics', '/worker-pool/state', '/nodes']),
    clientOf,
  });
  await app.register(securityDocs);
  const metrics = deps.metrics;
  app.addHook('onResponse', async (req, reply) => {
    metrics?.apiRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode);
    req.log.debug(
      { method: req.method, url: loggedUrl(req.url), status: reply.statusCode, ms: reply.elapsedTime },
      'request',
    );
  });

  // a worker node serves the probes only: no API, so no API description either
  if (deps.routes !== 'probes') await documentation(app, deps);

  // each group of routes is an encapsulated plugin over the one deps object: its parsers stay its own
  await app.register(healthRoutes, deps);
  await app.register(metricsRoutes, deps);
  if (deps.routes === 'probes') return app;
  await app.register(messageRoutes, deps);
  await app.register(workerPoolRoutes, deps);
  await app.register(keyRoutes, deps);
  await app.register(destinationRoutes, deps);
  await app.register(scheduleRoutes, deps);
  await app.register(dashboardRoutes, deps);
  if (deps.ui) await app.register(uiRoutes, deps.ui);
  return app;
}

/** Swagger UI and the OpenAPI document, at this project's paths and the original's. */
async function documentation(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'message-scheduler',
        description:
          'Stores messages and delivers them to a webhook on time. Every error is `{"error": "...", "code": "..."}` (see docs/errors.md).',
        version: deps.version,
        license: { name: 'MIT', url: 'https://opensource.org/licenses/MIT' },
      },
      servers: [{ url: '/', description: 'this service' }],
      // public unless an operation says otherwise (each names its scope)
      security: [],
      components: { securitySchemes: securitySchemes(deps.access.tokenUrl) },
      tags: [
        { name: 'messages', description: 'Add, list, inspect and cancel messages' },
        { name: 'worker-pool', description: 'Pause and resume delivery' },
        { name: 'health', description: 'Liveness and readiness' },
        { name: 'keys', description: 'API keys (scope admin)' },
        {
          name: 'destinations',
          description: 'Receivers of webhooks, each with its own URL, secrets and limits',
        },
        {
          name: 'dashboard',
          description: 'What the dashboard at /ui/ reads besides the resources: the credential, the overview',
        },
        {
          name: 'schedules',
          description:
            'Messages sent on a calendar (cron in a time zone, or an interval), once per occurrence',
        },
      ],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/swagger' });
  // the original's Swagger URLs (gofiber/swagger): the UI at /swagger/index.html, the document at
  // /swagger/doc.json. The UI page is the one /swagger/ serves; its relative links resolve alike.
  let uiPage: string | null = null;
  app.get('/swagger/index.html', { schema: { hide: true } }, async (_req, reply) => {
    uiPage ??= (await app.inject('/swagger/')).body;
    return reply.type('text/html; charset=utf-8').send(uiPage);
  });
  app.get('/swagger/doc.json', { schema: { hide: true } }, async () => app.swagger());
}
