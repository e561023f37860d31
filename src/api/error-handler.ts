import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ERROR_CODES, type ErrorCode } from '../errors/codes.js';
import { StoreError, type StoreErrorCode } from '../store/store-errors.js';
import { passedAccess } from './access.js';
import { loggedUrl } from '../http/logged-url.js';
import { SECURITY_HEADERS } from '../http/security-headers.js';
import fp from 'fastify-plugin';

/** Fastify's own errors, by their FST_ code: none leaves the server with an FST_ code. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'BAD_REQUEST',
  FST_ERR_VALIDATION: 'BAD_REQUEST',
  FST_ERR_BAD_URL: 'BAD_URL',
  FST_ERR_MAX_PARAM_LENGTH: 'URI_TOO_LONG',
};

/** A status with no more specific code: the code it answers with. */
const CODE_OF_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  408: 'REQUEST_TIMEOUT',
  413: 'PAYLOAD_TOO_LARGE',
  414: 'URI_TOO_LONG',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  416: 'RANGE_NOT_SATISFIABLE',
  431: 'HEADERS_TOO_LARGE',
  501: 'METHOD_NOT_IMPLEMENTED',
};

/** At most this many problems listed in a 400's `details` (a 1,000-row batch can have thousands). */
export const MAX_DETAILS = 100;

/**
 * The client went away before its request was read (it aborted, or reset the
 * connection): nobody is there to answer, and it says nothing about the store.
 */
function clientGone(req: FastifyRequest, err: FastifyError): boolean {
  const raw = req.raw;
  // the error itself must be a broken read: a store error while the socket is fine is the store's
  const abortError =
    err.code === 'ECONNRESET' ||
    err.code === 'ECONNABORTED' ||
    err.code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    err.message === 'aborted';
  return abortError && (!raw.complete || raw.socket?.destroyed === true);
}

export interface ErrorBody {
  error: string;
  code: ErrorCode;
  details?: unknown;
}

/** What a 503 asks a client to wait, in seconds (store outages last seconds to minutes). */
export const RETRY_AFTER_S = '5';

/** The one way an error leaves the API: `{"error", "code"}` with the code's status. */
export function sendError(reply: FastifyReply, code: ErrorCode, message: string, details?: unknown) {
  const body: ErrorBody = { error: message, code };
  if (details !== undefined) body.details = details;
  const status = ERROR_CODES[code].status;
  if (status === 503) void reply.header('retry-after', RETRY_AFTER_S);
  return reply.status(status).send(body);
}

/** The API's security headers, as raw header lines, for the answers written before a request exists. */
const PARSER_ANSWER_HEADERS = Object.entries(SECURITY_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('');

/** Errors the HTTP parser raises before a request exists (Node's clientError), in the same shape. */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let code: ErrorCode = 'BAD_REQUEST';
  let message = `malformed HTTP request (${err.code ?? err.message})`;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    code = 'REQUEST_TIMEOUT';
    message = 'the request was not received in time (api.requestTimeout / api.headersTimeout)';
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    code = 'HEADERS_TOO_LARGE';
    message = 'the request headers are too large';
  } else if (err.code === 'HPE_INVALID_METHOD') {
    code = 'METHOD_NOT_IMPLEMENTED';
    message = 'this HTTP method is not implemented by the server';
  }
  this.log.debug({ code: err.code }, 'client error');
  if (socket.writable) {
    const status = ERROR_CODES[code].status;
    const body = JSON.stringify({ error: message, code });
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${PARSER_ANSWER_HEADERS}Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}

/** Fastify's errors from before routing (a bad URL, an over-long parameter), in the API's shape. */
export function frameworkErrorHandler(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  void sendError(reply, FASTIFY_CODES[err.code] ?? 'BAD_REQUEST', err.message);
}

/** How the API answers each store error code (src/store/store-errors.ts): by code, never by driver. */
export const STORE_ANSWERS: Record<
  StoreErrorCode,
  { code: ErrorCode; message: string; level: 'warn' | 'error'; log: string }
> = {
  unavailable: {
    code: 'STORE_UNAVAILABLE',
    message: 'the store did not answer; retry later',
    level: 'warn',
    log: 'store unavailable',
  },
  timeout: {
    code: 'STORE_UNAVAILABLE',
    message: 'the store did not answer; retry later',
    level: 'warn',
    log: 'store timed out',
  },
  full: {
    code: 'STORE_FULL',
    message: 'the store is out of space; nothing was written',
    level: 'error',
    log: 'store full',
  },
  // a value the checks at the edge did not foresee: the client's request, not a bug of ours
  invalid: {
    code: 'BAD_REQUEST',
    message: 'the store refused a value of this request',
    level: 'warn',
    log: 'the store refused a value of a request',
  },
  conflict: {
    code: 'BAD_REQUEST',
    message: 'the store refused a value of this request',
    level: 'warn',
    log: 'the store refused a key of a request',
  },
};

function storeErrorAnswer(req: FastifyRequest, reply: FastifyReply, err: StoreError) {
  const answer = STORE_ANSWERS[err.code];
  req.log[answer.level]({ err, store_error: err.code }, answer.log);
  const refused = err.code === 'invalid' || err.code === 'conflict';
  return sendError(reply, answer.code, refused ? `${answer.message} (${err.message})` : answer.message);
}

interface KnownRoute {
  url: string;
  pattern: RegExp;
  isStatic: boolean;
  methods: string[];
}

/** Every error leaves as `{"error": "...", "code": "..."}` with a stable code (docs/errors.md). */
export function installErrorHandler(app: FastifyInstance): void {
  // every route's path as a pattern, to answer 405 (with Allow) for a known path and another method
  const routes: KnownRoute[] = [];
  app.addHook('onRoute', (route) => {
    // the documentation, and catch-all routes (CORS preflight: OPTIONS *), are no resource's methods
    if (route.url.startsWith('/swagger') || route.url.includes('*')) return;
    // matched as the router matches (routerOptions in server.ts): any letter case, a trailing slash
    const pattern = new RegExp(
      '^' + route.url.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[^/]+/g, '[^/]+') + '/?$',
      'i',
    );
    // HEAD is served for every GET but not documented; Allow lists the documented methods
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD');
    routes.push({ url: route.url.replace(/\/$/, ''), pattern, isStatic: !route.url.includes(':'), methods });
  });

  /** The methods a path allows; a static path (/messages/batch) is its own resource, not an /messages/:id. */
  const allowedOn = (path: string, staticOnly: boolean): string[] => {
    const matching = routes.filter((r) => r.pattern.test(path) && (!staticOnly || r.isStatic));
    const own = matching.some((r) => r.isStatic) ? matching.filter((r) => r.isStatic) : matching;
    return [...new Set(own.flatMap((r) => r.methods))];
  };
  // static routes that take an {id}'s place (/messages/batch beside /messages/:id), found once
  // the routes are all known (the first error that asks)
  let shadowed: string[] | null = null;
  const shadowedStatic = (): string[] =>
    (shadowed ??= routes
      .filter((r) => r.isStatic && routes.some((p) => !p.isStatic && p.pattern.test(r.url)))
      .map((r) => r.url));
  /**
   * 405 with the methods the path has in `Allow` (RFC 9110 §15.5.6), never empty and never the
   * refused method: a path with no method, or one whose route did not take this request although
   * it has the method, is 404.
   */
  const methodNotAllowed = (reply: FastifyReply, method: string, path: string, allowed: string[]) => {
    const refused = method === 'HEAD' ? ['HEAD', 'GET'] : [method];
    if (allowed.length === 0 || allowed.some((m) => refused.includes(m))) {
      return sendError(reply, 'NOT_FOUND', `no route ${method} ${path}`);
    }
    void reply.header('allow', allowed.join(', '));
    return sendError(
      reply,
      'METHOD_NOT_ALLOWED',
      `${method} is not allowed on ${path}; use ${allowed.join(', ')}`,
    );
  };

  /** Below a static path that takes an id's place (/messages/batch/retry): no resource. */
  const belowShadowed = (path: string): boolean => {
    const p = path.toLowerCase().replace(/\/$/, '');
    return shadowedStatic().some((url) => p.startsWith(`${url.toLowerCase()}/`));
  };

  const notFound = (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0] ?? '';
    const allowed = belowShadowed(path) ? [] : allowedOn(path, false);
    if (allowed.length > 0) return methodNotAllowed(reply, req.method, path, allowed);
    return sendError(reply, 'NOT_FOUND', `no route ${req.method} ${path}`);
  };
  app.setNotFoundHandler(notFound);

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    // no route has this method (QUERY /healthz): whatever its body lacked, the answer is 404/405;
    // a refusal of the access checks (429, 401, a duplicate Host) keeps its own answer
    if (req.is404 && passedAccess(req)) return notFound(req, reply);
    if (err instanceof AppError) {
      if (err.headers) void reply.headers(err.headers);
      return sendError(reply, err.code, err.message, err.details);
    }
    const fe = err as FastifyError;
    if (fe.validation) {
      const where = fe.validationContext ?? 'body';
      const path = req.url.split('?')[0] ?? '';
      if (where === 'params') {
        // GET /messages/batch reached GET /messages/:id: the static path exists, the method does not
        const staticAllowed = allowedOn(path, true);
        if (staticAllowed.length > 0) return methodNotAllowed(reply, req.method, path, staticAllowed);
        // POST /messages/batch/retry reached /messages/:id/retry: nothing below a static path that
        // takes an id's place is a resource, so it is not found (not a 405 with nothing to allow)
        if (belowShadowed(path)) {
          return sendError(reply, 'NOT_FOUND', `no route ${req.method} ${path}`);
        }
      }
      const details = fe.validation.slice(0, MAX_DETAILS).map((v) => ({
        path: `${where}${v.instancePath}`,
        message: v.message ?? 'is invalid',
      }));
      if (where === 'params' && req.routeOptions.url?.startsWith('/keys/')) {
        return sendError(reply, 'BAD_REQUEST', `${path}: the key id must be 12 hex digits`, details);
      }
      if (where === 'params' && fe.validation.some((v) => v.instancePath === '/id')) {
        return sendError(reply, 'INVALID_ID', `${path}: the message id must be 24 hex characters`, details);
      }
      return sendError(reply, 'BAD_REQUEST', fe.message, details);
    }
    if (clientGone(req, fe)) {
      req.log.debug({ code: fe.code, url: loggedUrl(req.url) }, 'client aborted the request');
      return sendError(reply, 'BAD_REQUEST', 'the client aborted the request');
    }
    const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
    if (mapped) {
      let message = mapped === 'INVALID_JSON' ? `body is not valid JSON: ${fe.message}` : fe.message;
      if (req.routeOptions.url === '/worker-pool/state') {
        message += '; expected {"action": "start"} or {"action": "pause"}';
      }
      return sendError(reply, mapped, message);
    }
    if (err instanceof SyntaxError || (fe.statusCode === 400 && /JSON/i.test(fe.message))) {
      return sendError(reply, 'INVALID_JSON', `body is not valid JSON: ${err.message}`);
    }
    if (err instanceof StoreError) return storeErrorAnswer(req, reply, err);
    const status = typeof fe.statusCode === 'number' ? fe.statusCode : 0;
    // a 405 raised by a plugin: answered as the router's own (with Allow, or a 404)
    if (status === 405) return notFound(req, reply);
    if (status >= 400 && status < 500) {
      return sendError(reply, CODE_OF_STATUS[status] ?? 'BAD_REQUEST', fe.message);
    }
    req.log.error({ err }, 'unhandled error');
    return sendError(reply, 'INTERNAL', 'internal error');
  });
}

/** The error shapes as a plugin of the root instance (the first the server registers). */
export const errorHandling = fp(async (app) => installErrorHandler(app), {
  name: 'error-handling',
  fastify: '5.x',
});
