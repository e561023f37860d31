/**
 * Stable error codes. Every store adapter and the API use these; the API
 * answers `{"error": "<message>", "code": "<CODE>"}` with the status below.
 * docs/errors.md is generated from this table (`npm run docs:errors`, checked
 * in CI): a code is never renamed or reused.
 */
export const ERROR_CODES = {
  BAD_REQUEST: {
    status: 400,
    doc: 'The request does not match the schema (wrong type, missing or unknown field, out-of-range value, text that is not well-formed Unicode, a malformed HTTP request). The message names the field; `details` lists every problem.',
  },
  BAD_URL: { status: 400, doc: 'The URL cannot be decoded (a bad percent-escape).' },
  INVALID_JSON: { status: 400, doc: 'The body is not valid JSON (or is empty where a body is required).' },
  INVALID_ACTION: {
    status: 400,
    doc: '`PUT /worker-pool/state` got an action other than `start` or `pause`, or a body that is neither JSON nor a form (as the original answered 400).',
  },
  INVALID_CONTENT: {
    status: 400,
    doc: 'Reserved: content outside 1..160 characters is reported as `BAD_REQUEST` naming `content`.',
  },
  INVALID_CURSOR: { status: 400, doc: 'The paging cursor was not issued by this service.' },
  INVALID_ID: { status: 400, doc: 'The message id in the path is not 24 hex characters.' },
  FORBIDDEN: { status: 403, doc: 'The request is refused (e.g. a path outside the documentation folder).' },
  NOT_FOUND: { status: 404, doc: 'No such message or route.' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    doc: 'The path exists but not for this method; the `Allow` header lists the methods.',
  },
  REQUEST_TIMEOUT: {
    status: 408,
    doc: 'The request was not received within `api.requestTimeout` (headers within `api.headersTimeout`); the connection is closed.',
  },
  CONFLICT: {
    status: 409,
    doc: 'The message is not in a status the action applies to: `DELETE` needs `unsent`, `POST …/retry` needs `unknown` or `failed`, `POST …/give-up` needs `unknown`.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, doc: 'The body is larger than `api.bodyLimit`.' },
  URI_TOO_LONG: { status: 414, doc: 'A path parameter is longer than the server accepts.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    doc: 'The body is not `application/json` (`PUT /worker-pool/state` also takes a form body).',
  },
  RANGE_NOT_SATISFIABLE: {
    status: 416,
    doc: 'A `Range` request for a documentation file that cannot be served.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    doc: 'The `Idempotency-Key` was used before with a different request (compared as parsed JSON: key order and spacing do not matter).',
  },
  HEADERS_TOO_LARGE: { status: 431, doc: 'The request headers are larger than the server accepts.' },
  INTERNAL: { status: 500, doc: 'A bug; the log has the details under the request id.' },
  METHOD_NOT_IMPLEMENTED: {
    status: 501,
    doc: 'The HTTP method is not one the server knows (e.g. `FOO`).',
  },
  NOT_READY: {
    status: 503,
    doc: '`GET /readyz`: the store does not answer (Redis is reported in `checks` but does not stop delivery).',
  },
  STORE_UNAVAILABLE: { status: 503, doc: 'The store did not answer this request; retry later.' },
  STORE_FULL: {
    status: 507,
    doc: 'The store is out of space (SQLite `SQLITE_FULL`, PostgreSQL `53100`): nothing was written; retry once space is freed. The worker pool keeps delivery outcomes in memory meanwhile and stores them when it can.',
  },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AppError extends Error {
  override name = 'AppError';
  readonly statusCode: number;
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.statusCode = ERROR_CODES[code].status;
  }
}
