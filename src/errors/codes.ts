/**
 * Stable error codes. Every store adapter and the API use these; the API
 * answers `{"error": "<message>", "code": "<CODE>"}` with the status below.
 * Documented in docs/errors.md: a code is never renamed or reused.
 */
export const ERROR_CODES = {
  BAD_REQUEST: {
    status: 400,
    doc: 'The request does not match the schema (wrong type, missing or unknown field).',
  },
  INVALID_JSON: { status: 400, doc: 'The body is not valid JSON.' },
  INVALID_ACTION: { status: 400, doc: 'PUT /worker-pool/state got an action other than start or pause.' },
  INVALID_CONTENT: {
    status: 400,
    doc: 'Reserved: content outside 1..160 characters is reported as BAD_REQUEST naming content.',
  },
  INVALID_CURSOR: { status: 400, doc: 'The paging cursor was not issued by this service.' },
  INVALID_ID: {
    status: 400,
    doc: 'Reserved: ids are checked by the route schema (BAD_REQUEST naming params/id).',
  },
  NOT_FOUND: { status: 404, doc: 'No such message or route.' },
  METHOD_NOT_ALLOWED: {
    status: 405,
    doc: 'The path exists but not for this method; the Allow header lists the methods.',
  },
  CONFLICT: {
    status: 409,
    doc: 'The message is not in a status the action applies to (cancel: unsent; retry: unknown or failed; give-up: unknown).',
  },
  PAYLOAD_TOO_LARGE: { status: 413, doc: 'The body is larger than api.bodyLimit.' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, doc: 'The body is not application/json.' },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    doc: 'The Idempotency-Key was used before with a different request body.',
  },
  NOT_READY: {
    status: 503,
    doc: 'The store does not answer (GET /readyz); Redis is reported but does not count.',
  },
  STORE_UNAVAILABLE: { status: 503, doc: 'The store did not answer; retry later.' },
  STORE_FULL: {
    status: 507,
    doc: 'The store is out of space (disk full): nothing was written; retry once space is freed.',
  },
  INTERNAL: { status: 500, doc: 'A bug: please report it with the log line of the request id.' },
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
