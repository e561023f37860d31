import type { FastifyError, FastifyInstance } from 'fastify';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors/codes.js';

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
};

/** Errors that mean the store or Redis is down, not that the service is broken. */
export function isUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string };
  return (
    /^Mongo(ServerSelection|Network|NotConnected|Topology)/.test(e.name ?? '') ||
    [
      'ECONNREFUSED',
      'ECONNRESET',
      'ETIMEDOUT',
      'EPIPE',
      '57P01',
      '57P03',
      '08006',
      '08001',
      '08003',
      'SQLITE_BUSY',
      'SQLITE_IOERR',
    ].includes(e.code ?? '') ||
    /Connection terminated|timeout exceeded when trying to connect/i.test((err as Error)?.message ?? '')
  );
}

/** At most this many problems listed in a 400's `details` (a 1,000-row batch can have thousands). */
const MAX_DETAILS = 100;

/** The store is out of space: SQLite's disk full, PostgreSQL's disk_full (53100). */
export function isStoreFull(err: unknown): boolean {
  const code = (err as { code?: string })?.code ?? '';
  return code === 'SQLITE_FULL' || code === '53100';
}

/** Every error leaves as `{"error": "...", "code": "..."}` with a stable code (docs/errors.md). */
export function installErrorHandler(app: FastifyInstance): void {
  // every route's path as a pattern, to answer 405 (with Allow) for a known path and another method
  const routes: { pattern: RegExp; isStatic: boolean; methods: string[] }[] = [];
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/swagger')) return;
    const pattern = new RegExp('^' + route.url.replace(/:[^/]+/g, '[^/]+') + '/?$');
    // HEAD is served for every GET but not documented; Allow lists the documented methods
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    routes.push({ pattern, isStatic: !route.url.includes(':'), methods });
  });
  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const matching = routes.filter((r) => r.pattern.test(path));
    // a static path (/messages/batch) is its own resource, not an instance of /messages/:id
    const own = matching.some((r) => r.isStatic) ? matching.filter((r) => r.isStatic) : matching;
    const allowed = [...new Set(own.flatMap((r) => r.methods))];
    if (allowed.length > 0) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send({
          error: `${req.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
          code: 'METHOD_NOT_ALLOWED',
        });
    }
    return reply.status(404).send({ error: `no route ${req.method} ${path}`, code: 'NOT_FOUND' });
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    if (err instanceof AppError) {
      return reply.status(err.statusCode).send({ error: err.message, code: err.code });
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const where = fe.validationContext ?? 'body';
      const details = fe.validation.slice(0, MAX_DETAILS).map((v) => ({
        path: `${where}${v.instancePath}`,
        message: v.message ?? 'is invalid',
      }));
      return reply.status(400).send({ error: fe.message, code: 'BAD_REQUEST', details });
    }
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      let message = mapped === 'INVALID_JSON' ? `body is not valid JSON: ${fe.message}` : fe.message;
      if (req.url.startsWith('/worker-pool/state'))
        message += '; expected {"action": "start"} or {"action": "pause"}';
      return reply.status(ERROR_CODES[mapped].status).send({ error: message, code: mapped });
    }
    if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
      return reply
        .status(400)
        .send({ error: `body is not valid JSON: ${err.message}`, code: 'INVALID_JSON' });
    }
    if (isStoreFull(err)) {
      req.log.error({ err }, 'store full');
      return reply
        .status(507)
        .send({ error: 'the store is out of space; nothing was written', code: 'STORE_FULL' });
    }
    if (isUnavailable(err)) {
      req.log.warn({ err }, 'store unavailable');
      return reply
        .status(503)
        .send({ error: 'the store did not answer; retry later', code: 'STORE_UNAVAILABLE' });
    }
    if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
      return reply.status(fe.statusCode).send({ error: fe.message, code: 'BAD_REQUEST' });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: 'internal error', code: 'INTERNAL' });
  });
}
