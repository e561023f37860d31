import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/codes.js';
import type { MessageStatus, NewMessage } from '../../domain/message.js';
import type { CreateResult } from '../../store/store.js';
import { decodeCursor, nextLink } from '../cursor.js';
import {
  BatchSchema,
  IdempotencyHeaders,
  IdParams,
  ListQuerySchema,
  MessageWithAttemptsSchema,
  NewMessageSchema,
  PageQuery,
  attemptJson,
  messageJson,
  type BatchBody,
  type NewMessageBody,
} from '../schemas.js';
import type { ApiDeps } from '../server.js';

const errorRef = Type.Ref('Error');
const messageRef = Type.Ref('Message');
/** what a write can answer besides success */
const writeErrors = {
  400: errorRef,
  413: errorRef,
  415: errorRef,
  422: errorRef,
  503: errorRef,
  507: errorRef,
};

function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

function toNewMessage(b: NewMessageBody, key: string | null, hash: string | null): NewMessage {
  let sendAt: Date | undefined;
  if (b.send_at !== undefined) {
    sendAt = new Date(b.send_at);
    if (Number.isNaN(sendAt.getTime()))
      throw new AppError('BAD_REQUEST', `send_at ${JSON.stringify(b.send_at)} is not a valid time`);
  }
  return {
    content: b.content,
    recipient_phone_number: b.recipient_phone_number,
    send_at: sendAt,
    priority: b.priority ?? 0,
    idempotency_key: key,
    request_hash: hash,
  };
}

function checkReplay(results: CreateResult[], hash: string | null, key: string): void {
  for (const r of results) {
    if (!r.created && r.message.request_hash !== hash) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        `Idempotency-Key ${JSON.stringify(key)} was used before with a different request body`,
      );
    }
  }
}

export function messageRoutes(app: FastifyInstance, deps: ApiDeps): void {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  /** One page of a list, with the next page in a Link header. */
  async function listPage(
    reply: FastifyReply,
    path: string,
    order: 'sent' | 'created',
    limitParam: number | undefined,
    status: MessageStatus | undefined,
    cursor: string | undefined,
  ) {
    const limit = limitParam ?? 100;
    const page = await deps.store.list({ order, status, limit, after: decodeCursor(cursor) });
    const link = nextLink(path, { limit, status }, page.next);
    if (link) void reply.header('link', link);
    return page.items.map(messageJson);
  }

  r.get(
    '/sent-messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Sent messages, newest sent_at first (as the original)',
        description:
          'Paged with `limit` and the `Link: <...>; rel="next"` header. An empty result is `[]` (the original answered 404).',
        querystring: PageQuery,
        response: { 200: Type.Array(messageRef), 400: errorRef, 503: errorRef },
      },
    },
    async (req, reply) =>
      listPage(reply, '/sent-messages', 'sent', req.query.limit, undefined, req.query.cursor),
  );

  r.get(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Messages, newest created_at first, optionally of one status',
        querystring: ListQuerySchema,
        response: { 200: Type.Array(messageRef), 400: errorRef, 503: errorRef },
      },
    },
    async (req, reply) =>
      listPage(
        reply,
        '/messages',
        'created',
        req.query.limit,
        req.query.status as MessageStatus | undefined,
        req.query.cursor,
      ),
  );

  r.post(
    '/messages',
    {
      schema: {
        tags: ['messages'],
        summary: 'Add a message, now or for later (send_at)',
        description:
          'With an `Idempotency-Key` header, a retry of the same request returns the same message (header `idempotent-replayed: true`); the same key with a different body is 422.',
        headers: IdempotencyHeaders,
        body: NewMessageSchema,
        response: { 201: messageRef, ...writeErrors },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'] ?? null;
      const hash = key ? requestHash(req.body) : null;
      const results = await deps.store.create([toNewMessage(req.body, key, hash)], new Date());
      if (key) checkReplay(results, hash, key);
      const [result] = results;
      if (!result) throw new Error('store returned no result');
      if (result.created) deps.onCreated();
      else void reply.header('idempotent-replayed', 'true');
      req.log.debug({ message_id: result.message.id, created: result.created }, 'message accepted');
      return reply.status(201).send(messageJson(result.message));
    },
  );

  r.post(
    '/messages/batch',
    {
      schema: {
        tags: ['messages'],
        summary: 'Add up to 1000 messages in one transaction',
        description: 'All or nothing: one invalid message rejects the request with its index in the error.',
        headers: IdempotencyHeaders,
        body: BatchSchema,
        response: { 201: Type.Object({ messages: Type.Array(messageRef) }), ...writeErrors },
      },
    },
    async (req, reply) => {
      const body = req.body as BatchBody;
      const key = req.headers['idempotency-key'] ?? null;
      const hash = key ? requestHash(body) : null;
      if (key) {
        // refuse a different body before writing anything: its extra rows would otherwise go in
        const first = await deps.store.getByIdempotencyKey(`${key}#0`);
        if (first) checkReplay([{ message: first, created: false }], hash, key);
      }
      const inputs = body.messages.map((m, i) => toNewMessage(m, key ? `${key}#${i}` : null, hash));
      const results = await deps.store.create(inputs, new Date());
      if (key) checkReplay(results, hash, key);
      if (results.some((x) => x.created)) deps.onCreated();
      else if (key) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send({ messages: results.map((x) => messageJson(x.message)) });
    },
  );

  r.get(
    '/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'One message with its delivery attempts',
        params: IdParams,
        response: { 200: MessageWithAttemptsSchema, 400: errorRef, 404: errorRef, 503: errorRef },
      },
    },
    async (req) => {
      const { id } = req.params;
      const m = await deps.store.get(id);
      if (!m) throw new AppError('NOT_FOUND', `no message ${id}`);
      const attempts = await deps.store.attempts(id);
      return { ...messageJson(m), attempts_log: attempts.map(attemptJson) };
    },
  );

  r.delete(
    '/messages/:id',
    {
      schema: {
        tags: ['messages'],
        summary: 'Cancel an unsent message',
        description: '409 when it is processing or already done; 404 when unknown.',
        params: IdParams,
        response: { 200: messageRef, 400: errorRef, 404: errorRef, 409: errorRef, 503: errorRef },
      },
    },
    async (req) => {
      const { id } = req.params;
      const res = await deps.store.cancel(id, new Date());
      if (res.result === 'not_found') throw new AppError('NOT_FOUND', `no message ${id}`);
      if (res.result === 'conflict') {
        throw new AppError(
          'CONFLICT',
          `message ${id} is ${res.status}; only an unsent message can be cancelled`,
        );
      }
      req.log.debug({ message_id: id }, 'message cancelled');
      return messageJson(res.message);
    },
  );

  // at-most-once mode's operator decisions (they work in either mode)
  const actions = [
    {
      path: '/messages/:id/retry',
      action: 'retry' as const,
      summary: 'Send an unknown or failed message again',
      description:
        'unknown or failed → unsent, due now, keeping its attempts (a failed message gets at least one more). 409 in any other status.',
    },
    {
      path: '/messages/:id/give-up',
      action: 'give_up' as const,
      summary: 'Give up on a message whose outcome is unknown',
      description: 'unknown → failed, with the reason kept in last_error. 409 in any other status.',
    },
  ];
  for (const a of actions) {
    r.post(
      a.path,
      {
        schema: {
          tags: ['messages'],
          summary: a.summary,
          description: a.description,
          params: IdParams,
          response: { 200: messageRef, 400: errorRef, 404: errorRef, 409: errorRef, 503: errorRef },
        },
      },
      async (req) => {
        const { id } = req.params;
        const res = await deps.store.resolve(id, a.action, new Date());
        if (res.result === 'not_found') throw new AppError('NOT_FOUND', `no message ${id}`);
        if (res.result === 'conflict') {
          throw new AppError(
            'CONFLICT',
            `message ${id} is ${res.status}; ${a.action === 'retry' ? 'only an unknown or failed message can be retried' : 'only an unknown message can be given up'}`,
          );
        }
        req.log.info({ message_id: id, action: a.action, status: res.message.status }, 'operator action');
        if (a.action === 'retry') deps.onCreated();
        return messageJson(res.message);
      },
    );
  }
}
