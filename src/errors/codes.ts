/**
 * Stable error codes. Every store adapter and the API use these; the API
 * answers `{"error": "<message>", "code": "<CODE>"}` with the status below.
 * docs/errors.md is generated from this table (`npm run docs:errors`, checked
 * in CI): a code is never renamed or reused.
 */
export const ERROR_CODES = {
  BAD_REQUEST: {
    status: 400,
    doc: 'The request does not match the schema (wrong type, missing or unknown field, out-of-range value, a malformed HTTP request), or holds text no store keeps as written: a lone UTF-16 surrogate, U+0000, bytes that are not UTF-8, JSON nested deeper than 32 levels. The message names the field; `details` lists every problem.',
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
  URL_NOT_ALLOWED: {
    status: 400,
    doc: "A destination's URL has a host that is an address `destinations.denyAddresses` denies (e.g. 169.254.169.254, the cloud metadata service). A host name is checked on the addresses it resolves to, at each connection: a refused one is recorded as the attempt's error (`EADDRDENIED`).",
  },
  UNAUTHORIZED: {
    status: 401,
    doc: 'No credentials, or credentials that are not valid: an unknown or revoked API key, or a JWT with a bad signature, issuer, audience, algorithm or time. The `WWW-Authenticate: Bearer` header says which (RFC 6750).',
  },
  FORBIDDEN: { status: 403, doc: 'The request is refused (e.g. a path outside the documentation folder).' },
  INSUFFICIENT_SCOPE: {
    status: 403,
    doc: 'The credentials are valid but lack the scope the operation needs (named in the message and in `WWW-Authenticate`).',
  },
  PROTECTED_MODE: {
    status: 403,
    doc: 'No credentials are configured, so only loopback clients are answered. Create an API key (`message-scheduler keys create`), configure OAuth2 (`auth.jwt.*`), or opt out with `api.auth: none` (unsafe).',
  },
  HOST_NOT_ALLOWED: {
    status: 403,
    doc: 'The `Host` header is not in `api.allowedHosts` (or, for anonymous loopback access, not a loopback name): a DNS-rebinding guard.',
  },
  CROSS_SITE_REQUEST: {
    status: 403,
    doc: 'A state-changing request came from a browser page of another origin (`Origin` or `Sec-Fetch-Site`) that is not in `api.cors.origins`.',
  },
  NOT_FOUND: { status: 404, doc: 'No such message, API key, destination, schedule or route.' },
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
    doc: 'The message is not in a status the action applies to: `DELETE` needs `unsent`, `POST …/retry` needs `unknown` or `failed`, `POST …/give-up` needs `unknown`. Or a destination or schedule id is taken, the action would change the built-in `default` destination (change the config instead), or it would pause or resume a schedule that has ended (change its `end_at` or `limit`).',
  },
  PRECONDITION_FAILED: {
    status: 412,
    doc: 'The destination or schedule changed since the version given in `If-Match`: read it again (its `ETag`) and decide.',
  },
  PAYLOAD_TOO_LARGE: { status: 413, doc: 'The body is larger than `api.bodyLimit`.' },
  URI_TOO_LONG: { status: 414, doc: 'A path parameter is longer than the server accepts.' },
  UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    doc: 'The body is not `application/json` (`PUT /worker-pool/state` also takes a form body), or declares a charset other than UTF-8 (JSON is UTF-8, RFC 8259). A body-less `POST` without credentials needs `Content-Type: application/json` too, so a cross-site form cannot make it.',
  },
  RANGE_NOT_SATISFIABLE: {
    status: 416,
    doc: 'A `Range` request for a documentation file that cannot be served.',
  },
  IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    doc: 'The `Idempotency-Key` was used before with a different request (compared as parsed JSON: key order and spacing do not matter).',
  },
  UNKNOWN_DESTINATION: {
    status: 422,
    doc: "The message (or a schedule's message) names a `destination` that does not exist.",
  },
  NO_SUBSCRIBER: {
    status: 422,
    doc: "The message names a `topic` no active destination subscribes to: nothing would be delivered, so nothing is stored. Also a schedule's trigger, for its topic.",
  },
  RATE_LIMITED: {
    status: 429,
    doc: 'The client used up its API token bucket (`apiRateLimiter.*`). `Retry-After` says when a token is back; `RateLimit` and `RateLimit-Policy` describe the bucket.',
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
    /** response headers the answer needs (`WWW-Authenticate`, `Retry-After`, `RateLimit`) */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
    this.statusCode = ERROR_CODES[code].status;
  }
}
