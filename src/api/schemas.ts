import { Type, type Static } from '@sinclair/typebox';
import { CONTENT_MAX_CHARS, MESSAGE_STATUSES } from '../domain/message.js';
import type { DeliveryAttempt, Message } from '../domain/message.js';

/** The schemas that validate requests are the ones the OpenAPI document is generated from. */
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

export const MessageStatusSchema = Type.Union(
  MESSAGE_STATUSES.map((s) => Type.Literal(s)),
  { $id: 'MessageStatus', description: 'See the state machine in the README.' },
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
    outcome: Type.Union([
      Type.Literal('sent'),
      Type.Literal('retry'),
      Type.Literal('failed'),
      Type.Literal('unknown'),
    ]),
  },
  { $id: 'DeliveryAttempt' },
);

export const MessageWithAttemptsSchema = Type.Intersect([
  Type.Ref('Message'),
  Type.Object({ attempts_log: Type.Array(Type.Ref('DeliveryAttempt')) }),
]);

export const NewMessageSchema = Type.Object(
  {
    content: Type.String({ minLength: 1, maxLength: CONTENT_MAX_CHARS, description: '1 to 160 characters.' }),
    recipient_phone_number: Type.String({ minLength: 1, maxLength: 64 }),
    send_at: Type.Optional(Type.String({ format: 'date-time', description: 'RFC 3339; default now.' })),
    priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000, default: 0 })),
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

export const PageQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200, description: 'From the Link rel="next" header.' })),
  },
  { additionalProperties: false },
);

export const ListQuerySchema = Type.Object(
  {
    status: Type.Optional(Type.Ref('MessageStatus')),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const IdParams = Type.Object({
  id: Type.String({ pattern: '^[0-9a-f]{24}$', description: 'Message id: 24 hex characters.' }),
});

export const PoolActionSchema = Type.Object(
  {
    action: Type.Union([Type.Literal('start'), Type.Literal('pause')], {
      description: '"start" or "pause".',
    }),
  },
  { $id: 'PoolAction' },
);
export const PoolStateSchema = Type.Object(
  {
    status: Type.Union([Type.Literal('running'), Type.Literal('paused')]),
  },
  { $id: 'PoolState' },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
});

export const SHARED_SCHEMAS = [
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
  };
}
