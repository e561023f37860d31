import type { Readable } from 'node:stream';
import { Pool } from 'undici';
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
      const res = await this.pool.request({
        method: 'POST',
        path: this.path,
        headers,
        body,
      });
      const code = res.statusCode;
      if (code >= 200 && code < 300) {
        const text = await readLimited(res.body);
        return { kind: 'delivered', statusCode: code, ...responseId(text) };
      }
      // drain so the connection can be reused
      const text = await readLimited(res.body).catch(() => '');
      const error = `HTTP ${code}${text ? `: ${text.slice(0, 200)}` : ''}`;
      if (isRetryableStatus(code)) {
        return {
          kind: 'retryable',
          statusCode: code,
          error,
          retryAfterMs: parseRetryAfter(res.headers['retry-after']),
          maybeDelivered: false,
        };
      }
      return { kind: 'permanent', statusCode: code, error };
    } catch (err) {
      const e = err as Error & { code?: string };
      const what = /Timeout/.test(e.code ?? e.name) ? 'timeout' : (e.code ?? e.name);
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

/** The body's first MAX_BODY_BYTES as text; the rest is read and dropped. Events, not an async iterator: cheaper per response. */
function readLimited(body: Readable): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    body.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    body.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    body.once('error', reject);
  });
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
