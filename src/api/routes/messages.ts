import { createHash } from 'node:crypto';
import type { FastifyReply, FastifyRequest, FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/codes.js';
import type { Message, MessageStatus, NewMessage } from '../../domain/message.js';
import type { Destination } from '../../domain/destination.js';
import { SCHEDULE_KEY_PREFIX } from '../../domain/schedule.js';
import { MAX_SUBSCRIBERS, newGroupId, storedDestination, subscribersOf } from '../../destinations/fan-out.js';
import { orderOf, type CreateResult, type ListOrder } from '../../store/store.js';
import { DEFAULT_DESTINATION_ID } from '../../domain/destination.js';
import { decodeCursor, nextLink } from '../cursor.js';
import {
  BatchSchema,
  Headers,
  IdempotencyHeaders,
  IdParams,
  ListQuerySchema,
  MessageWithAttemptsSchema,
  type MessageFilterValues,
  NewMessageSchema,
  SentQuerySchema,
  attemptJson,
  jsonResponse,
  messageJson,
  MethodNotAllowedResponse,
  type BatchBody,
  type NewMessageBody,
} from '../schemas.js';
import type { ApiDeps } from '../deps.js';
import { phoneProblems } from '../body-checks.js';
import { actorOf } from '../access.js';

const errorRef = Type.Ref('Error');
const messageRef = Type.Ref('Message');
/** The answer to a message sent to a topic: one message per subscriber, sharing the group id. */
const FanOutSchema = Type.Object({
  group_id: Type.String({
    description: 'Shared by the messages of this fan-out: GET /messages?group_id=… lists them.',
  }),
  topic: Type.String(),
  messages: Type.Array(messageRef, { description: 'One per subscribed destination, by destination id.' }),
});
const err = (description: string, headers?: Record<string, typeof Headers.allow>) =>
  jsonResponse(description, errorRef, headers);
/** Answers every operation can give. */
const commonErrors = {
  405: MethodNotAllowedResponse,
  503: err('The store did not answer (STORE_UNAVAILABLE).', { 'retry-after': Headers.retryAfter }),
};
/** what a write can answer besides success */
const writeErrors = {
  400: err('The body does not match the schema (BAD_REQUEST, INVALID_JSON); `details` names each problem.'),
  413: err('The body is larger than api.bodyLimit (PAYLOAD_TOO_LARGE).'),
  415: err('The body is not application/json (UNSUPPORTED_MEDIA_TYPE).'),
  422: err(
    'A message names a destination that does not exist (UNKNOWN_DESTINATION) or a topic no destination subscribes to (NO_SUBSCRIBER), or the Idempotency-Key was used with a different request (IDEMPOTENCY_KEY_REUSED).',
  ),
  ...commonErrors,
  507: err('The store is out of space; nothing was written (STORE_FULL).'),
};
const idErrors = {
  400: err('The id is not 24 hex characters (INVALID_ID).'),
  404: err('No such message (NOT_FOUND).'),
  ...commonErrors,
};

/** Messages one request may make, topics' fan-outs counted (a batch is at most 1,000 rows). */
const MAX_MESSAGES_PER_REQUEST = 10_000;

/** JSON with the keys of every object sorted: the same request whatever order its fields came in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

/**
 * What an Idempotency-Key's request is compared by: the parsed request, not its
 * bytes. `legacy` is the hash earlier versions stored (the body as it arrived,
 * in its own key order), still accepted for keys stored before this version.
 */
function requestHash(body: unknown): { hash: string; legacy: string } {
  return { hash: sha256(canonicalJson(body)), legacy: sha256(JSON.stringify(body)) };
}

/**
 * The request's Idempotency-Key, or null. Keys starting `schedule:` are the schedules' (one per
 * occurrence): a client's key there could take an occurrence's message, so it is refused.
 */
function clientKey(key: string | undefined): string | null {
  if (key === undefined) return null;
  if (key.startsWith(SCHEDULE_KEY_PREFIX)) {
    throw new AppError(
      'BAD_REQUEST',
      `Idempotency-Key: keys starting ${JSON.stringify(SCHEDULE_KEY_PREFIX)} are kept for schedules' occurrences`,
      [{ path: 'headers/idempotency-key', message: `starts with ${JSON.stringify(SCHEDULE_KEY_PREFIX)}` }],
    );
  }
  return key;
}

/** Refuses rows whose recipient_phone_number is blank or holds control characters, naming each. */
function checkPhones(rows: readonly unknown[], path: (i: number) => string): void {
  const problems = phoneProblems(rows, path);
  if (problems.length > 0) {
    throw new AppError('BAD_REQUEST', `${problems[0]?.path}: ${problems[0]?.message}`, problems);
  }
}

/** An RFC 3339 time the schema let through that JavaScript cannot hold (a leap second, 23:59:60) is a 400. */
function instant(name: string, text: string, where: string): Date {
  const d = new Date(text);
  if (Number.isNaN(d.getTime())) {
    throw new AppError('BAD_REQUEST', `${name}: ${JSON.stringify(text)} is not a time this service can use`, [
      { path: `${where}/${name}`, message: 'not a usable time' },
    ]);
  }
  return d;
}

/** `from` and `to` of a list query as times; refused for the unsent list (delivery order) and when reversed. */
export function timeRange(
  f: { from?: string | undefined; to?: string | undefined },
  order: ListOrder,
  where: 'querystring' | 'body' = 'querystring',
) {
  const from = f.from === undefined ? undefined : instant('from', f.from, where);
  const to = f.to === undefined ? undefined : instant('to', f.to, where);
  if ((from || to) && order === 'due') {
    throw new AppError(
      'BAD_REQUEST',
      'from and to bound created_at (sent_at for sent messages); unsent messages are listed in delivery order, so they take neither',
      [{ path: `${where}/${from ? 'from' : 'to'}`, message: 'not with status=unsent' }],
    );
  }
  if (from && to && from.getTime() >= to.getTime()) {
    throw new AppError('BAD_REQUEST', 'from must be before to', [
      { path: `${where}/from`, message: 'not before to' },
    ]);
  }
  return { from, to };
}

function toNewMessage(
  b: NewMessageBody,
  key: string | null,
  hash: string | null,
  traceContext: string | null,
): NewMessage {
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
    trace_context: traceContext,
  };
}

function checkReplay(
  results: CreateResult[],
  hash: { hash: string; legacy: string } | null,
  key: string,
): void {
  for (const r of results) {
    const stored = r.message.request_hash;
    if (!r.created && stored !== hash?.hash && stored !== hash?.legacy) {
      throw new AppError(
        'IDEMPOTENCY_KEY_REUSED',
        `Idempotency-Key ${JSON.stringify(key)} was used before with a different request body`,
      );
    }
  }
}

/**
 * The list routes' answers are serialized by JSON.stringify: messageJson builds exactly the
 * documented shape, and the schema serializer spent a third of a 1,000-row page choosing each
 * nullable field's branch with ajv (the response schema still documents the answer).
 */
const plainJson = () => (data: unknown) => JSON.stringify(data);

/**
 * What a page costs of the client's token bucket: one token per 100 messages asked for (the
 * default page of 100 costs 1, a page of 1,000 costs 10), so a client paging 1,000 at a time does
 * not get ten times the work of one paging 100 for the same tokens.
 */
export function pageCost(req: FastifyRequest): number {
  const limit = Number((req.query as { limit?: unknown } | undefined)?.limit ?? 100);
  return Number.isInteger(limit) && limit > 0 ? Math.ceil(Math.min(limit, 1000) / 100) : 1;
}

export const messageRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  /**
   * Each row of a request as the messages it becomes: one to the destination it names (`default`
   * when none), or one per subscriber of its topic, sharing a group id. A fan-out's first message
   * (by destination id) carries the row's idempotency key, the others the key and their destination.
   */
  async function expand(
    rows: NewMessageBody[],
    keyOf: (i: number) => string | null,
    hash: string | null,
    trace: string | null,
    path: (i: number) => string,
  ): Promise<NewMessage[][]> {
    const topics = new Map<string, Destination[]>();
    const out: NewMessage[][] = [];
    let total = 0;
    for (const [i, b] of rows.entries()) {
      const key = keyOf(i);
      const base = toNewMessage(b, key, hash, trace);
      if (b.destination !== undefined && b.topic !== undefined) {
        throw new AppError('BAD_REQUEST', `${path(i)}: give a destination or a topic, not both`);
      }
      if (b.topic !== undefined) {
        let subs = topics.get(b.topic);
        if (!subs) {
          const found = await subscribersOf(deps.store.destinations, b.topic);
          if (!('ok' in found)) {
            throw new AppError(
              'BAD_REQUEST',
              `${path(i)}/topic: more than ${MAX_SUBSCRIBERS} destinations subscribe to ${JSON.stringify(b.topic)}`,
            );
          }
          subs = found.ok;
          topics.set(b.topic, subs);
        }
        if (subs.length === 0) {
          throw new AppError(
            'NO_SUBSCRIBER',
            `${path(i)}/topic: no active destination subscribes to ${JSON.stringify(b.topic)}`,
          );
        }
        const group = newGroupId();
        const topic = b.topic;
        out.push(
          subs.map((d, j) => ({
            ...base,
            destination_id: d.id,
            group_id: group,
            topic,
            idempotency_key: key === null ? null : j === 0 ? key : `${key}#${d.id}`,
          })),
        );
        total += subs.length;
      } else {
        const dest = storedDestination(b.destination);
        if (dest !== null && !(await deps.registry.resolve(dest))) {
          throw new AppError('UNKNOWN_DESTINATION', `${path(i)}/destination: no destination ${dest}`);
        }
        out.push([{ ...base, destination_id: dest }]);
        total += 1;
      }
    }
    if (total > MAX_MESSAGES_PER_REQUEST) {
      throw new AppError(
        'BAD_REQUEST',
        `body: the request makes ${total} messages (topics fan out); at most ${MAX_MESSAGES_PER_REQUEST} per request`,
      );
    }
    return out;
  }

  /**
   * What a request with this Idempotency-Key stored the first time, row by row (a fan-out's whole
   * group), or null when it is new. A different body under the same key is refused first.
   */
  async function replay(
    rows: number,
    keyOf: (i: number) => string | null,
    hash: { hash: string; legacy: string } | null,
    key: string,
  ): Promise<Message[][] | null> {
    const first = await deps.store.getByIdempotencyKey(keyOf(0) ?? '');
    if (!first) return null;
    checkReplay([{ message: first, created: false }], hash, key);
    const out: Message[][] = [];
    for (let i = 0; i < rows; i++) {
      const leader = i === 0 ? first : await deps.store.getByIdempotencyKey(keyOf(i) ?? '');
      // one transaction stored every row: a missing one means the key was reused for a shorter body
      if (!leader) return null;
      if (leader.group_id === null) {
        out.push([leader]);
        continue;
      }
      const group = await deps.store.list({
        order: 'created',
        group: leader.group_id,
        limit: MAX_SUBSCRIBERS + 1,
      });
      out.push(group.items.sort((a, b) => ((a.destination_id ?? '') < (b.destination_id ?? '') ? -1 : 1)));
    }
    return out;
  }

  /** One page of a list, with the next page in a Link header. */
  async function listPage(
    reply: FastifyReply,
    path: string,
    order: ListOrder,
    limitParam: number | undefined,
    status: MessageStatus | undefined,
    cursor: string | undefined,
    filters: MessageFilterValues,
  ) {
    const limit = limitParam ?? 100;
    if (filters.idempotency_key !== undefined) return byIdempotencyKey(filters, order, status);
    let after = decodeCursor(cursor);
    if (after && (order === 'due') !== (after.priority !== undefined)) {
      throw new AppError(
        'INVALID_CURSOR',
        'cursor belongs to another listing; use the Link rel="next" header',
      );
    }
    const range = timeRange(filters, order);
    // the end of the range is where the first page starts (a cursor is further on already)
    if (range.to && !after) after = { at: range.to, id: '' };
    const page = await deps.store.list({
      order,
      status,
      limit,
      after,
      destination: filters.destination,
      group: filters.group_id,
      recipient: filters.recipient,
      since: range.from,
    });
    const link = nextLink(
      path,
      {
        limit,
        status,
        destination: filters.destination,
        group_id: filters.group_id,
        recipient: filters.recipient,
        from: filters.from,
        to: filters.to,
      },
      page.next,
    );
    if (link) void reply.header('link', link);
    return page.items.map(messageJson);
  }

  /** The list of the one message stored under an Idempotency-Key, when it matches the other filters. */
  async function byIdempotencyKey(
    f: MessageFilterValues,
    order: ListOrder,
    status: MessageStatus | undefined,
  ) {
    const m = await deps.store.getByIdempotencyKey(f.idempotency_key ?? '');
    if (!m) return [];
    const range = timeRange(f, order);
    const at = order === 'sent' ? m.sent_at : m.created_at;
    const matches =
      (order !== 'sent' || m.status === 'sent') &&
      (status === undefined || m.status === status) &&
      (f.destination === undefined || (m.destination_id ?? DEFAULT_DESTINATION_ID) === f.destination) &&
      (f.group_id === undefined || m.group_id === f.group_id) &&
      (f.recipient === undefined || m.recipient_phone_number === f.recipient) &&
      (range.from === undefined || (at !== null && at >= range.from)) &&
      (range.to === undefined || (at !== null && at < range.to));
    return matches ? [messageJson(m)] : [];
  }

  r.get(
    '/sent-messages',
    {
      config: { scope: 'messages:read', cost: pageCost },
      serializerCompiler: plainJson,
      schema: {
        tags: ['messages'],
        operationId: 'listSentMessages',
        summary: 'Sent messages, newest sent_at first (as the original)',
        description:
          'Paged with `limit` and the `Link: <...>; rel="next"` header. An empty result is `[]` (the original answered 404).',
        querystring: SentQuerySchema,
        response: {
          200: jsonResponse('One page of sent messages.', Type.Array(messageRef), { link: Headers.link }),
          400: err('A bad limit or cursor (BAD_REQUEST, INVALID_CURSOR).'),
          ...commonErrors,
        },
      },
    },
    async (req, reply) =>
      listPage(reply, '/sent-messages', 'sent', req.query.limit, undefined, req.query.cursor, req.query),
  );

  r.get(
    '/messages',
    {
      config: { scope: 'messages:read', cost: pageCost },
      serializerCompiler: plainJson,
      schema: {
        tags: ['messages'],
        operationId: 'listMessages',
        summary: 'Messages, optionally of one status',
        description:
          'Newest `created_at` first, except `status=unsent`: delivery order, next first (priority, then `next_attempt_at`, then `created_at`), and `status=sent`: newest `sent_at` first, as `/sent-messages`. Paged with `limit` and the `Link: <...>; rel="next"` header.',
        querystring: ListQuerySchema,
        response: {
          200: jsonResponse('One page of messages.', Type.Array(messageRef), { link: Headers.link }),
          400: err('A bad status, limit or cursor (BAD_REQUEST, INVALID_CURSOR).'),
          ...commonErrors,
        },
      },
    },
    async (req, reply) =>
      listPage(
        reply,
        '/messages',
        orderOf(req.query.status as MessageStatus | undefined),
        req.query.limit,
        req.query.status as MessageStatus | undefined,
        req.query.cursor,
        req.query,
      ),
  );

  r.post(
    '/messages',
    {
      config: { scope: 'messages:write' },
      schema: {
        tags: ['messages'],
        operationId: 'createMessage',
        summary: 'Add a message, now or for later (send_at)',
        description:
          'To the destination it names (`default`, the webhook of the config, when none), or to every destination subscribed to its `topic` (one message each, in one transaction, sharing a `group_id`). With an `Idempotency-Key` header, a retry of the same request returns the same message or group (header `idempotent-replayed: true`); the same key with a different request (compared as parsed JSON) is 422.',
        headers: IdempotencyHeaders,
        body: NewMessageSchema,
        response: {
          ...writeErrors,
          201: jsonResponse(
            'The message as stored (or, on a replay, as stored the first time); for a `topic`, the group of messages it fanned out to.',
            Type.Union([messageRef, FanOutSchema]),
            {
              'idempotent-replayed': Headers.replayed,
            },
          ),
        },
      },
      preValidation: async (req) => checkPhones([req.body], () => 'body'),
    },
    async (req, reply) => {
      const key = clientKey(req.headers['idempotency-key']);
      const hash = key ? requestHash(req.body) : null;
      const replayed = key ? await replay(1, () => key, hash, key) : null;
      let messages: Message[];
      let created = false;
      if (replayed) messages = replayed[0] ?? [];
      else {
        const trace = deps.tracing?.traceparent(req) ?? null;
        const [row = []] = await expand(
          [req.body],
          () => key,
          hash?.hash ?? null,
          trace,
          () => 'body',
        );
        const results = await deps.store.create(row, new Date());
        if (key) checkReplay(results, hash, key);
        messages = results.map((x) => x.message);
        created = results.some((x) => x.created);
      }
      const [first] = messages;
      if (!first) throw new Error('store returned no result');
      if (created) deps.onCreated();
      else void reply.header('idempotent-replayed', 'true');
      req.log.debug(
        { message_id: first.id, group_id: first.group_id, messages: messages.length, created },
        'message accepted',
      );
      if (req.body.topic === undefined) return reply.status(201).send(messageJson(first));
      return reply
        .status(201)
        .send({ group_id: first.group_id, topic: req.body.topic, messages: messages.map(messageJson) });
    },
  );

  r.post(
    '/messages/batch',
    {
      config: { scope: 'messages:write' },
      schema: {
        tags: ['messages'],
        operationId: 'createMessages',
        summary: 'Add up to 1000 messages in one transaction',
        description: 'All or nothing: one invalid message rejects the request with its index in the error.',
        headers: IdempotencyHeaders,
        body: BatchSchema,
        response: {
          201: jsonResponse(
            'The messages as stored, in request order.',
            Type.Object({ messages: Type.Array(messageRef) }),
            { 'idempotent-replayed': Headers.replayed },
          ),
          ...writeErrors,
        },
      },
      preValidation: async (req) => {
        const rows = (req.body as { messages?: unknown } | undefined)?.messages;
        if (Array.isArray(rows)) checkPhones(rows, (i) => `body/messages/${i}`);
      },
    },
    async (req, reply) => {
      const body = req.body as BatchBody;
      const key = clientKey(req.headers['idempotency-key']);
      const hash = key ? requestHash(body) : null;
      const keyOf = (i: number): string | null => (key ? `${key}#${i}` : null);
      // a replay answers what the first request stored (a topic's subscribers may have changed since)
      const replayed = key ? await replay(body.messages.length, keyOf, hash, key) : null;
      if (replayed) {
        void reply.header('idempotent-replayed', 'true');
        return reply.status(201).send({ messages: replayed.flat().map(messageJson) });
      }
      const trace = deps.tracing?.traceparent(req) ?? null;
      const rows = await expand(body.messages, keyOf, hash?.hash ?? null, trace, (i) => `body/messages/${i}`);
      const results = await deps.store.create(rows.flat(), new Date());
      if (key) checkReplay(results, hash, key);
      if (results.some((x) => x.created)) deps.onCreated();
      else if (key) void reply.header('idempotent-replayed', 'true');
      return reply.status(201).send({ messages: results.map((x) => messageJson(x.message)) });
    },
  );

  r.get(
    '/messages/:id',
    {
      config: { scope: 'messages:read' },
      schema: {
        tags: ['messages'],
        operationId: 'getMessage',
        summary: 'One message with its delivery attempts',
        params: IdParams,
        response: {
          200: jsonResponse('The message and every delivery attempt.', MessageWithAttemptsSchema),
          ...idErrors,
        },
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
      config: { scope: 'messages:write' },
      schema: {
        tags: ['messages'],
        operationId: 'cancelMessage',
        summary: 'Cancel an unsent message',
        description: '409 when it is processing or already done; 404 when unknown. Takes no body.',
        params: IdParams,
        response: {
          200: jsonResponse('The message, now cancelled.', messageRef),
          ...idErrors,
          409: err('The message is not unsent (CONFLICT).'),
        },
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
      req.log.info({ ...actorOf(req), message_id: id }, 'message cancelled');
      return messageJson(res.message);
    },
  );

  // at-most-once mode's operator decisions (they work in either mode)
  const actions = [
    {
      path: '/messages/:id/retry',
      action: 'retry' as const,
      operationId: 'retryMessage',
      summary: 'Send an unknown or failed message again',
      description:
        'unknown or failed → unsent, due now, keeping its attempts (a failed message gets at least one more). 409 in any other status.',
    },
    {
      path: '/messages/:id/give-up',
      action: 'give_up' as const,
      operationId: 'giveUpMessage',
      summary: 'Give up on a message whose outcome is unknown',
      description: 'unknown → failed, with the reason kept in last_error. 409 in any other status.',
    },
  ];
  for (const a of actions) {
    r.post(
      a.path,
      {
        config: { scope: 'messages:write' },
        schema: {
          tags: ['messages'],
          operationId: a.operationId,
          summary: a.summary,
          description: `${a.description} Takes no body.`,
          params: IdParams,
          response: {
            200: jsonResponse('The message after the action.', messageRef),
            ...idErrors,
            409: err('The message is not in a status the action applies to (CONFLICT).'),
          },
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
        req.log.info(
          { ...actorOf(req), message_id: id, action: a.action, status: res.message.status },
          'operator action',
        );
        if (a.action === 'retry') deps.onCreated();
        return messageJson(res.message);
      },
    );
  }
};
