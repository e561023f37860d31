import { webhookBody, type BodyEscaping } from './webhook-body.js';
import { isUtf8 } from 'node:buffer';
import { Agent, Pool, type Dispatcher } from 'undici';
import { ADDRESS_DENIED, AddressPolicy } from '../http/address-policy.js';
import { guardedConnector } from './guarded-connector.js';
import { storableText, textProblem } from '../domain/text.js';
import { interimSkippingConnector } from './interim-responses.js';
import { secretBytes, signAll } from './signature.js';

/** What one webhook request came to; the pool turns it into a store outcome. */
export type DeliveryResult =
  | { kind: 'delivered'; statusCode: number; responseMessageId: string | null; warning: string | null }
  | {
      kind: 'retryable';
      statusCode: number | null;
      error: string;
      retryAfterMs: number | null;
      /**
       * The request may have reached the receiver without our learning what it did
       * (a timeout or a broken connection after sending). False when the receiver
       * answered, or when nothing was sent (connection refused, DNS).
       */
      maybeDelivered: boolean;
    }
  | { kind: 'permanent'; statusCode: number; error: string };

export interface WebhookRequest {
  webhookId: string;
  to: string;
  content: string;
  /** the W3C `traceparent` the request carries when tracing is on (the receiver's trace continues it) */
  traceparent?: string | undefined;
  /** a destination made over the API or the CLI; absent: the configured webhook (the `default` destination) */
  target?: DeliveryTarget | undefined;
}

/** Where and how a request to a destination other than `default` goes (structured-clone safe, for delivery threads). */
export interface DeliveryTarget {
  url: string;
  /** the destination's own headers (never one the service writes: destinations/spec-input.ts) */
  headers: Record<string, string>;
  /** the secrets that sign now (expired ones left out) */
  secrets: string[];
  timeoutMs: number;
}

/** The I/O the worker pool needs to deliver a message; the undici client below is the real one. */
export interface Deliverer {
  deliver(request: WebhookRequest): Promise<DeliveryResult>;
  /** Ends requests still in flight after `graceMs` (default: a whole timeout and a second). */
  close(graceMs?: number): Promise<void>;
}

export interface WebhookClientOptions {
  url: string;
  timeoutMs: number;
  /** `whsec_...` each; none → no webhook-signature header; several → one signature each (rotation) */
  signingSecrets: readonly string[];
  connections: number;
  userAgent?: string;
  /** how the body escapes `&<>` and U+2028/U+2029 (webhook-body.ts); `go` when absent */
  bodyEscaping?: BodyEscaping;
  /** address ranges a destination's requests may not connect to (destinations.denyAddresses); absent: none */
  deniedAddresses?: readonly string[];
}

/** The most of a reply body that is read; past it the connection is dropped (see ResponseReader). */
export const MAX_BODY_BYTES = 64 * 1024;
/** A receiver's messageId is stored only if it is a string of at most this many characters. */
export const MAX_RESPONSE_ID_CHARS = 256;

/** Parses Retry-After: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | null {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return null;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now);
}

/** Errors that happen before any byte of the request leaves: nothing can have been delivered. */
const NOT_SENT_ERRORS = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
  ADDRESS_DENIED,
]);

/** Signing keys of the destinations' secrets, decoded once each (a bounded cache). */
const MAX_CACHED_KEYS = 1000;
const MAX_CACHED_URLS = 10_000;

export function isRetryableStatus(code: number): boolean {
  return code === 408 || code === 429 || code >= 500;
}

/**
 * POSTs `{"to", "content"}` as JSON: to the configured webhook over a keep-alive undici Pool, and
 * to other destinations over an Agent (a pool per origin) whose connector refuses denied addresses.
 */
export class WebhookClient implements Deliverer {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly keys: Buffer[];
  private readonly deadline: number;
  private closing: Promise<void> | null = null;
  /** the destinations' connections, made at their first request */
  private routed: Agent | null = null;
  private readonly targetKeys = new Map<string, Buffer>();
  /** each destination URL's origin and path, parsed once (a URL parse per request showed in profiles) */
  private readonly targetUrls = new Map<string, { origin: string; path: string }>();

  constructor(private readonly options: WebhookClientOptions) {
    const u = new URL(options.url);
    this.path = u.pathname + u.search;
    this.pool = new Pool(u.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      // undici's connector, with interim 1xx answers left out (interim-responses.ts)
      connect: interimSkippingConnector({ timeout: Math.min(options.timeoutMs, 10_000) }),
    });
    this.deadline = options.timeoutMs;
    this.keys = options.signingSecrets.map(secretBytes);
  }

  private agent(): Agent {
    this.routed ??= new Agent({
      connections: this.options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      connect: guardedConnector(new AddressPolicy(this.options.deniedAddresses ?? []), {
        timeout: Math.min(this.options.timeoutMs, 10_000),
      }),
    });
    return this.routed;
  }

  private keysOf(secrets: readonly string[]): Buffer[] {
    return secrets.map((s) => {
      let k = this.targetKeys.get(s);
      if (!k) {
        if (this.targetKeys.size >= MAX_CACHED_KEYS) this.targetKeys.clear();
        k = secretBytes(s);
        this.targetKeys.set(s, k);
      }
      return k;
    });
  }

  private urlOf(url: string): { origin: string; path: string } {
    let u = this.targetUrls.get(url);
    if (!u) {
      if (this.targetUrls.size >= MAX_CACHED_URLS) this.targetUrls.clear();
      const parsed = new URL(url);
      u = { origin: parsed.origin, path: parsed.pathname + parsed.search };
      this.targetUrls.set(url, u);
    }
    return u;
  }

  async deliver(req: WebhookRequest): Promise<DeliveryResult> {
    const body = webhookBody(req.to, req.content, this.options.bodyEscaping ?? 'go');
    const timestamp = Math.floor(Date.now() / 1000);
    const t = req.target;
    const headers: Record<string, string> = {
      // a destination's own headers first: the service's below cannot be overridden
      ...t?.headers,
      'content-type': 'application/json',
      // as the original's client sent it
      accept: 'application/json',
      'user-agent': this.options.userAgent ?? 'message-scheduler',
      'webhook-id': req.webhookId,
      'webhook-timestamp': String(timestamp),
    };
    if (req.traceparent) headers.traceparent = req.traceparent;
    // Standard Webhooks: several signatures are space-separated; a receiver accepts any that verifies
    const keys = t ? this.keysOf(t.secrets) : this.keys;
    if (keys.length > 0) headers['webhook-signature'] = signAll(keys, req.webhookId, timestamp, body);
    try {
      let res: PostResponse;
      if (t) {
        const u = this.urlOf(t.url);
        res = await post(this.agent(), u.path, headers, body, t.timeoutMs, u.origin);
      } else res = await post(this.pool, this.path, headers, body, this.deadline);
      const code = res.statusCode;
      if (code >= 200 && code < 300) {
        const { responseMessageId, warning } = responseId(res.text, res.utf8);
        return { kind: 'delivered', statusCode: code, responseMessageId, warning };
      }
      // what the receiver wrote goes into last_error: text every store keeps (a NUL, half a pair)
      const error = storableText(`HTTP ${code}${res.text ? `: ${res.text.slice(0, 200)}` : ''}`);
      if (isRetryableStatus(code)) {
        return {
          kind: 'retryable',
          statusCode: code,
          error,
          retryAfterMs: parseRetryAfter(res.retryAfter),
          maybeDelivered: false,
        };
      }
      return { kind: 'permanent', statusCode: code, error };
    } catch (err) {
      const e = err as Error & { code?: string };
      const what = /timeout/i.test(e.code ?? e.name) ? 'timeout' : (e.code ?? e.name);
      return {
        kind: 'retryable',
        statusCode: null,
        error: storableText(`${what}: ${e.message}`),
        retryAfterMs: null,
        maybeDelivered: !NOT_SENT_ERRORS.has(e.code ?? ''),
      };
    }
  }

  /**
   * Waits for requests in flight (each ends by its deadline), then closes the
   * connections; past `graceMs` they are destroyed, so shutdown never waits on a receiver.
   */
  close(graceMs = this.deadline + 1000): Promise<void> {
    this.closing ??= this.closeWithin(graceMs);
    return this.closing;
  }

  private async closeWithin(graceMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((r) => {
      timer = setTimeout(() => r('late'), graceMs);
      timer.unref();
    });
    const closed = Promise.all([this.pool.close(), this.routed?.close()]).then(() => 'closed' as const);
    if ((await Promise.race([closed, late])) === 'late') {
      await Promise.all([this.pool.destroy(), this.routed?.destroy()]);
    }
    clearTimeout(timer);
  }
}

/** The whole exchange (connect to last byte) took longer than webhookClient.timeout. */
export class DeadlineError extends Error {
  override name = 'TimeoutError';
  readonly code = 'UND_ERR_DEADLINE_TIMEOUT';
  constructor(ms: number) {
    super(`no complete answer within ${ms} ms (webhookClient.timeout bounds the whole exchange)`);
  }
}

/** A webhook answer: status, Retry-After (only when the status is retryable) and the body's first MAX_BODY_BYTES. */
export interface PostResponse {
  statusCode: number;
  retryAfter: string | undefined;
  /** the body read, decoded as UTF-8 (bytes that are not UTF-8 become U+FFFD) */
  text: string;
  /** whether those bytes were UTF-8: a reply that was not is not trusted for its messageId */
  utf8: boolean;
}

/**
 * POSTs over `dispatcher` with undici's dispatch handler API: no response
 * stream, no header object, only the bytes we read. request() cost a fifth
 * more CPU per request (a Readable per body, every header parsed). The
 * benchmark's HTTP-limit client uses this too, so both sides pay the same.
 */
export function post(
  dispatcher: Dispatcher,
  path: string,
  headers: Record<string, string>,
  body: string,
  deadlineMs = 0,
  /** the origin, for an Agent (a Pool knows its own) */
  origin?: string,
): Promise<PostResponse> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(
      origin
        ? {
            method: 'POST',
            path,
            headers,
            body,
            origin,
            headersTimeout: deadlineMs,
            bodyTimeout: deadlineMs,
          }
        : { method: 'POST', path, headers, body },
      new ResponseReader(resolve, reject, deadlineMs),
    );
  });
}

/**
 * Reads one answer. undici's headersTimeout and bodyTimeout bound the wait for
 * each piece, so a receiver that drips one byte a second never trips them: the
 * deadline here bounds the whole exchange. A body past MAX_BODY_BYTES is not
 * read on: the answer is taken as it stands and the connection dropped.
 */
class ResponseReader implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private retryAfter: string | undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private abort: ((err?: Error) => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private done = false;

  constructor(
    private readonly resolve: (res: PostResponse) => void,
    private readonly reject: (err: Error) => void,
    deadlineMs: number,
  ) {
    if (deadlineMs > 0) {
      this.timer = setTimeout(() => this.expire(deadlineMs), deadlineMs);
    }
  }

  private expire(ms: number): void {
    this.timer = null;
    const err = new DeadlineError(ms);
    // before onConnect there is nothing to abort yet: undici calls onConnect, which sees done
    this.abort?.(err);
    this.fail(err);
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    this.reject(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.done) {
      abort(new DeadlineError(0));
      return;
    }
    this.abort = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    this.statusCode = statusCode;
    if (isRetryableStatus(statusCode)) {
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        if (rawHeaders[i]?.toString('latin1').toLowerCase() === 'retry-after') {
          this.retryAfter = rawHeaders[i + 1]?.toString('latin1');
        }
      }
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.done) return false;
    const room = MAX_BODY_BYTES - this.size;
    this.size += chunk.length;
    if (chunk.length <= room) {
      this.chunks.push(chunk);
      return true;
    }
    // enough read: answer with the first MAX_BODY_BYTES and drop the connection
    if (room > 0) this.chunks.push(chunk.subarray(0, room));
    this.onComplete();
    this.abort?.(new Error('reply body over the read limit: connection dropped'));
    return false;
  }

  onComplete(): void {
    if (this.done) return;
    this.done = true;
    if (this.timer) clearTimeout(this.timer);
    const body = this.chunks.length === 1 ? (this.chunks[0] ?? EMPTY) : Buffer.concat(this.chunks);
    this.resolve({
      statusCode: this.statusCode,
      retryAfter: this.retryAfter,
      text: body.toString('utf8'),
      utf8: isUtf8(body),
    });
  }

  onError(err: Error): void {
    this.fail(err);
  }
}

const EMPTY = Buffer.alloc(0);

function responseId(
  text: string,
  utf8: boolean,
): { responseMessageId: string | null; warning: string | null } {
  if (text === '') return { responseMessageId: null, warning: 'receiver answered 2xx with an empty body' };
  if (!utf8) {
    // decoded, its bad bytes became U+FFFD: an id read from it would be stored changed
    return { responseMessageId: null, warning: 'receiver answered 2xx with a body that is not valid UTF-8' };
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'messageId' in parsed) {
      const id = (parsed as { messageId: unknown }).messageId;
      const problem = typeof id === 'string' ? textProblem(id) : null;
      if (problem) {
        // the id is the receiver's key for the message: stored changed, it would name another
        return { responseMessageId: null, warning: `receiver answered 2xx with a messageId that ${problem}` };
      }
      if (typeof id === 'string' && id !== '' && id.length <= MAX_RESPONSE_ID_CHARS) {
        return { responseMessageId: id, warning: null };
      }
      if (typeof id === 'string' && id.length > MAX_RESPONSE_ID_CHARS) {
        return {
          responseMessageId: null,
          warning: `receiver answered 2xx with a messageId of ${id.length} characters (at most ${MAX_RESPONSE_ID_CHARS} are stored)`,
        };
      }
      if (id !== undefined && id !== null && typeof id !== 'string') {
        return {
          responseMessageId: null,
          warning: 'receiver answered 2xx with a messageId that is not a string',
        };
      }
    }
    return { responseMessageId: null, warning: 'receiver answered 2xx without a messageId' };
  } catch {
    return { responseMessageId: null, warning: 'receiver answered 2xx with a body that is not JSON' };
  }
}
