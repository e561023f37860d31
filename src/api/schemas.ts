import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { CONTENT_MAX_CHARS, CONTROL_CHAR_CLASS, MESSAGE_STATUSES } from '../domain/message.js';
import type { DeliveryAttempt, Message, MessageStatus } from '../domain/message.js';
import { DEFAULT_DESTINATION_ID, DESTINATION_ID_PATTERN, TOPIC_PATTERN } from '../domain/destination.js';

/** The schemas that validate requests are the ones the OpenAPI document is generated from. */
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** A string enum as one `enum` (generators make one type of it; errors say "must be one of"). */
export function StringEnum<T extends string>(values: readonly T[], options: Record<string, unknown> = {}) {
  return Type.Unsafe<T>({ type: 'string', enum: [...values], ...options });
}

export const MessageStatusSchema = StringEnum<MessageStatus>(MESSAGE_STATUSES, {
  $id: 'MessageStatus',
  description: 'See the state machine in docs/delivery.md.',
});

/** A response as the OpenAPI document shows it: a description, its JSON schema and its headers. */
export function jsonResponse(description: string, schema: TSchema, headers?: Record<string, TSchema>) {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { 'application/json': { schema } },
  };
}

export const Headers = {
  link: Type.String({
    description: 'The next page, when there is one: `</path?limit=N&cursor=...>; rel="next"`.',
  }),
  replayed: Type.String({
    enum: ['true'],
    description: 'Present when an Idempotency-Key replay returned the message stored the first time.',
  }),
  allow: Type.String({ description: 'The methods the path allows, e.g. `GET, POST`.' }),
  retryAfter: Type.String({ description: 'Seconds to wait before retrying.' }),
};

/** The 405 every operation can answer (a known path, another method). */
export const MethodNotAllowedResponse = jsonResponse(
  'The path exists, not for this method (METHOD_NOT_ALLOWED); `Allow` lists the methods.',
  Type.Ref('Error'),
  { allow: Headers.allow },
);

export const ErrorSchema = Type.Object(
  {
    error: Type.String({ description: 'What went wrong, for a person.' }),
    code: Type.String({ description: 'Stable error code (docs/errors.md).' }),
    details: Type.Optional(
      Type.Array(
        Type.Object({
          path: Type.String({ description: 'Where: body/messages/3/content, querystring/limit, ...' }),
          message: Type.String(),
        }),
        {
          description:
            'BAD_REQUEST: every problem found in the request (the first 100), e.g. one per bad batch row.',
        },
      ),
    ),
  },
  { $id: 'Error' },
);

export const MessageSchema = Type.Object(
  {
    id: Type.String({ description: '24 hex characters (an ObjectId on MongoDB).' }),
    webhook_response_message_id: Type.Union([Type.String(), Type.Null()], {
      description: 'messageId the webhook answered with, when it gave one.',
    }),
    content: Type.String(),
    recipient_phone_number: Type.String(),
    status: Type.Ref('MessageStatus'),
    created_at: DateTime,
    sent_at: Nullable(DateTime),
    send_at: Type.String({ format: 'date-time', description: 'Not delivered before this time.' }),
    priority: Type.Integer({ description: 'Higher is delivered first.' }),
    attempts: Type.Integer({ description: 'Delivery attempts made.' }),
    last_error: Type.Union([Type.String(), Type.Null()]),
    next_attempt_at: Nullable(DateTime),
    updated_at: DateTime,
    webhook_id: Type.String({ description: 'The webhook-id header of every attempt of this message.' }),
    destination: Type.String({
      description: 'The destination it goes to (`default`: the webhook of the config).',
    }),
    group_id: Nullable(
      Type.String({
        description: 'Shared by the messages one request sent to a topic (one per subscriber).',
      }),
    ),
    topic: Nullable(Type.String({ description: 'The topic it was sent to, when it was.' })),
  },
  { $id: 'Message' },
);

export const AttemptSchema = Type.Object(
  {
    attempt: Type.Integer(),
    started_at: DateTime,
    latency_ms: Type.Number(),
    status_code: Type.Union([Type.Integer(), Type.Null()]),
    error: Type.Union([Type.String(), Type.Null()]),
    outcome: StringEnum(['sent', 'retry', 'failed', 'unknown'] as const),
    destination: Type.String({ description: 'The destination the attempt went to.' }),
    url: Nullable(
      Type.String({
        description: 'The URL it was sent to, as it was then (null before destinations existed).',
      }),
    ),
    node: Nullable(
      Type.String({ description: 'The node that made it (null in attempts stored by earlier versions).' }),
    ),
  },
  { $id: 'DeliveryAttempt' },
);

export const MessageWithAttemptsSchema = Type.Intersect([
  Type.Ref('Message'),
  Type.Object({ attempts_log: Type.Array(Type.Ref('DeliveryAttempt')) }),
]);

const CTRL = CONTROL_CHAR_CLASS;
const PHONE_PATTERN = `^[^${CTRL}]*[^\\s${CTRL}][^${CTRL}]*$`;

export const NewMessageSchema = Type.Object(
  {
    // examples that read like real use: Swagger UI's "Try it out" body starts from them
    content: Type.String({
      minLength: 1,
      maxLength: CONTENT_MAX_CHARS,
      description: '1 to 160 characters.',
      example: 'Your order #1042 has shipped and arrives tomorrow.',
    }),
    recipient_phone_number: Type.String({
      minLength: 1,
      maxLength: 64,
      // no C0/C1 control characters or line separators, and not only whitespace
      pattern: PHONE_PATTERN,
      description:
        'Free text as the original stored it (`+905551111111`, `0555 111 11 11`), not blank, no control characters.',
      example: '+905551111111',
    }),
    send_at: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'RFC 3339; default now.',
        example: '2027-01-04T09:00:00Z',
      }),
    ),
    // no `default` keyword: generators would make the field required in the request type
    priority: Type.Optional(
      Type.Integer({
        minimum: -1000,
        maximum: 1000,
        description: 'Higher is delivered first; 0 when absent.',
        example: 0,
      }),
    ),
    destination: Type.Optional(
      Type.String({
        pattern: DESTINATION_ID_PATTERN,
        description:
          'The destination to deliver to (GET /destinations); `default`, the webhook of the config, when absent. Not with `topic`.',
        example: 'default',
      }),
    ),
    topic: Type.Optional(
      Type.String({
        pattern: TOPIC_PATTERN,
        description:
          'Deliver to every active destination subscribed to this topic: one message each, sharing a `group_id`, in one transaction. Not with `destination`.',
      }),
    ),
  },
  { additionalProperties: false, $id: 'NewMessage' },
);
export type NewMessageBody = Static<typeof NewMessageSchema>;

export const BATCH_MAX = 1000;
export const BatchSchema = Type.Object(
  { messages: Type.Array(Type.Ref('NewMessage'), { minItems: 1, maxItems: BATCH_MAX }) },
  { additionalProperties: false },
);
export interface BatchBody {
  messages: NewMessageBody[];
}

const Limit = Type.Integer({ minimum: 1, maximum: 1000, description: 'Page size; 100 when absent.' });

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'From the Link rel="next" header.' })),
  },
  // other parameters (a cache buster `_=…`, the original's clients' `page=2`) are ignored, as the
  // original ignored them: on every route, the known ones are still checked
  { additionalProperties: true },
);

/** The filters both message lists take. */
const MessageFilters = {
  destination: Type.Optional(
    Type.String({
      pattern: DESTINATION_ID_PATTERN,
      description: 'Only the messages to this destination (`default` included).',
    }),
  ),
  group_id: Type.Optional(
    Type.String({ minLength: 1, maxLength: 64, description: 'Only the messages of one topic fan-out.' }),
  ),
  recipient: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'Only the messages to this `recipient_phone_number` (exactly as stored).',
    }),
  ),
  from: Type.Optional(
    Type.String({
      format: 'date-time',
      description:
        'Only those created at or after this time (sent, for the sent list). Not with `status=unsent`, listed in delivery order.',
    }),
  ),
  to: Type.Optional(
    Type.String({
      format: 'date-time',
      description: 'Only those created before this time (sent, for the sent list). Not with `status=unsent`.',
    }),
  ),
  idempotency_key: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 300,
      description:
        'Only the message stored under this Idempotency-Key (`<key>#<row>` for a batch): a list of one or none.',
    }),
  ),
};

/** What the message-list filters hold once validated (the query's own types). */
export interface MessageFilterValues {
  destination?: string | undefined;
  group_id?: string | undefined;
  recipient?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  idempotency_key?: string | undefined;
}

export const SentQuerySchema = Type.Object(
  { ...PageQuery.properties, ...MessageFilters },
  { additionalProperties: true },
);

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(Type.Ref('MessageStatus')),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
    ...MessageFilters,
  },
  { additionalProperties: true },
);

export const IdParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{24}$', description: 'Message id: 24 hex characters.' }),
});

export const PoolActionSchema = Type.Object(
  {
    action: StringEnum(['start', 'pause'] as const, { description: '"start" or "pause".' }),
  },
  { $id: 'PoolAction' },
);
export const NodeSchema = Type.Object(
  {
    id: Type.String({ description: 'The node id (host, pid, random): the lease owner of what it holds.' }),
    role: Type.String({ description: 'all, api or worker.' }),
    state: Type.String({
      description:
        "The node's own view: running, paused, or stale (its heartbeat is late: it starts no delivery).",
    }),
    in_flight: Type.Integer({ description: 'Deliveries it had in flight at its last heartbeat.' }),
    version: Type.String(),
    started_at: Type.String({ format: 'date-time' }),
    last_seen: Type.String({ format: 'date-time', description: 'Its last heartbeat.' }),
  },
  { $id: 'Node' },
);

export const PoolStateSchema = Type.Object(
  {
    status: StringEnum(['running', 'paused'] as const, {
      description:
        "The cluster's state (the one stored; this node follows it within pool.stateSyncInterval).",
    }),
    nodes: Type.Optional(
      Type.Array(Type.Ref('Node'), { description: 'Each live node (GET only): its own view of the pool.' }),
    ),
  },
  { $id: 'PoolState' },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      // printable ASCII, as the IETF Idempotency-Key draft's sf-string: a header's other bytes
      // arrive decoded as Latin-1, and would be stored as a key the client never sent
      pattern: '^[\\x20-\\x7e]+$',
      description: 'Printable ASCII, 1 to 255 characters: the same key returns the same message.',
    }),
  ),
});

export const SHARED_SCHEMAS = [
  NodeSchema,
  MessageStatusSchema,
  ErrorSchema,
  MessageSchema,
  AttemptSchema,
  NewMessageSchema,
  PoolStateSchema,
];

export type MessageJson = Static<typeof MessageSchema> & { status: Message['status'] };

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

/** The public JSON of a message: the original's fields plus ours; lease internals stay inside. */
export function messageJson(m: Message): MessageJson {
  return {
    id: m.id,
    webhook_response_message_id: m.webhook_response_message_id,
    content: m.content,
    recipient_phone_number: m.recipient_phone_number,
    status: m.status,
    created_at: m.created_at.toISOString(),
    sent_at: iso(m.sent_at),
    send_at: m.send_at.toISOString(),
    priority: m.priority,
    attempts: m.attempts,
    last_error: m.last_error,
    next_attempt_at: m.status === 'unsent' ? m.due_at.toISOString() : null,
    updated_at: m.updated_at.toISOString(),
    webhook_id: m.webhook_id,
    destination: m.destination_id ?? DEFAULT_DESTINATION_ID,
    group_id: m.group_id,
    topic: m.topic,
  };
}

export function attemptJson(a: DeliveryAttempt): Static<typeof AttemptSchema> {
  return {
    attempt: a.attempt,
    started_at: a.started_at.toISOString(),
    latency_ms: a.latency_ms,
    status_code: a.status_code,
    error: a.error,
    outcome: a.outcome,
    destination: a.destination_id ?? DEFAULT_DESTINATION_ID,
    url: a.url ?? null,
    node: a.node ?? null,
  };
}
