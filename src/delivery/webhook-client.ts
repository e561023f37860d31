import { Pool, type Dispatcher } from 'undici';
import { secretBytes, sign } from './signature.js';

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
}

/** The I/O the worker pool needs to deliver a message; the undici client below is the real one. */
export interface Deliverer {
  deliver(request: WebhookRequest): Promise<DeliveryResult>;
  close(): Promise<void>;
}

export interface WebhookClientOptions {
  url: string;
  timeoutMs: number;
  /** `whsec_...`; empty → no webhook-signature header */
  signingSecret: string;
  connections: number;
  userAgent?: string;
}

const MAX_BODY_BYTES = 64 * 1024;

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
]);

export function isRetryableStatus(code: number): boolean {
  return code === 408 || code === 429 || code >= 500;
}

/** POSTs `{"to", "content"}` as JSON over a keep-alive undici Pool. */
export class WebhookClient implements Deliverer {
  private readonly pool: Pool;
  private readonly path: string;
  private readonly key: Buffer | null;

  constructor(private readonly options: WebhookClientOptions) {
    const u = new URL(options.url);
    this.path = u.pathname + u.search;
    this.pool = new Pool(u.origin, {
      connections: options.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    });
    this.key = options.signingSecret ? secretBytes(options.signingSecret) : null;
  }

  async deliver(req: WebhookRequest): Promise<DeliveryResult> {
    const body = JSON.stringify({ to: req.to, content: req.content });
    const timestamp = Math.floor(Date.now() / 1000);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': this.options.userAgent ?? 'message-scheduler',
      'webhook-id': req.webhookId,
      'webhook-timestamp': String(timestamp),
    };
    if (this.key) headers['webhook-signature'] = sign(this.key, req.webhookId, timestamp, body);
    try {
      const res = await post(this.pool, this.path, headers, body);
      const code = res.statusCode;
      if (code >= 200 && code < 300) return { kind: 'delivered', statusCode: code, ...responseId(res.text) };
      const error = `HTTP ${code}${res.text ? `: ${res.text.slice(0, 200)}` : ''}`;
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
        error: `${what}: ${e.message}`,
        retryAfterMs: null,
        maybeDelivered: !NOT_SENT_ERRORS.has(e.code ?? ''),
      };
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }
}

/** A webhook answer: status, Retry-After (only when the status is retryable) and the body's first MAX_BODY_BYTES. */
export interface PostResponse {
  statusCode: number;
  retryAfter: string | undefined;
  text: string;
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
): Promise<PostResponse> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch({ method: 'POST', path, headers, body }, new ResponseReader(resolve, reject));
  });
}

class ResponseReader implements Dispatcher.DispatchHandler {
  private statusCode = 0;
  private retryAfter: string | undefined;
  private readonly chunks: Buffer[] = [];
  private size = 0;

  constructor(
    private readonly resolve: (res: PostResponse) => void,
    private readonly reject: (err: Error) => void,
  ) {}

  onConnect(): void {}

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
    this.size += chunk.length;
    // the rest is read and dropped, so the connection can be reused
    if (this.size <= MAX_BODY_BYTES) this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    const text =
      this.chunks.length === 1
        ? (this.chunks[0]?.toString('utf8') ?? '')
        : Buffer.concat(this.chunks).toString('utf8');
    this.resolve({ statusCode: this.statusCode, retryAfter: this.retryAfter, text });
  }

  onError(err: Error): void {
    this.reject(err);
  }
}

function responseId(text: string): { responseMessageId: string | null; warning: string | null } {
  if (text === '') return { responseMessageId: null, warning: 'receiver answered 2xx with an empty body' };
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === 'object' && 'messageId' in parsed) {
      const id = (parsed as { messageId: unknown }).messageId;
      if (typeof id === 'string' && id !== '') return { responseMessageId: id, warning: null };
    }
    return { responseMessageId: null, warning: 'receiver answered 2xx without a messageId' };
  } catch {
    return { responseMessageId: null, warning: 'receiver answered 2xx with a body that is not JSON' };
  }
}
