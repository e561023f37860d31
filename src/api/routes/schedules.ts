import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { AppError, type ErrorCode } from '../../errors/codes.js';
import { CONTENT_MAX_CHARS } from '../../domain/message.js';
import { DESTINATION_ID_PATTERN, TOPIC_PATTERN } from '../../domain/destination.js';
import { MISSED_POLICIES, SCHEDULE_STATUSES, type Schedule } from '../../domain/schedule.js';
import { ScheduleError } from '../../schedules/schedule-service.js';
import { scheduleView, SCHEDULE_LIMITS, type ScheduleInput } from '../../schedules/spec-input.js';
import { localTime } from '../../schedules/calendar.js';
import type { ApiDeps } from '../deps.js';
import {
  Headers,
  IdempotencyHeaders,
  jsonResponse,
  messageJson,
  MethodNotAllowedResponse,
  StringEnum,
} from '../schemas.js';
import { actorOf } from '../access.js';
import { ifMatch } from './destinations.js';

const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Time = (description: string) => Type.String({ maxLength: 64, description: `RFC 3339. ${description}` });

const templateProperties = {
  content: Type.String({ minLength: 1, maxLength: CONTENT_MAX_CHARS, description: '1 to 160 characters.' }),
  recipient_phone_number: Type.String({ minLength: 1, maxLength: 64 }),
  priority: Type.Integer({
    minimum: -1000,
    maximum: 1000,
    description: 'Higher is delivered first; 0 when absent.',
  }),
  destination: Nullable(
    Type.String({
      pattern: DESTINATION_ID_PATTERN,
      description: 'The destination each occurrence goes to (`default` when absent). Not with `topic`.',
    }),
  ),
  topic: Nullable(
    Type.String({
      pattern: TOPIC_PATTERN,
      description:
        'Each occurrence goes to every destination subscribed to it then (a fan-out). Not with `destination`.',
    }),
  ),
};
const TemplateIn = Type.Object(
  {
    content: templateProperties.content,
    recipient_phone_number: templateProperties.recipient_phone_number,
    priority: Type.Optional(templateProperties.priority),
    destination: Type.Optional(templateProperties.destination),
    topic: Type.Optional(templateProperties.topic),
  },
  {
    additionalProperties: false,
    description: 'The message each occurrence sends (send_at: the occurrence).',
  },
);
const specProperties = {
  cron: Type.String({
    minLength: 1,
    maxLength: SCHEDULE_LIMITS.cron,
    description:
      'A cron pattern read in `timezone`: 5 fields (minute hour day month weekday), or 6 with seconds first; `@daily` and the other nicknames. Not with `every`.',
    example: '0 9 * * MON-FRI',
  }),
  every: Type.String({
    minLength: 1,
    maxLength: 32,
    description:
      'An interval, written as the config writes durations ("30s", "15m", "24h"), 1s to 366d: from `start_at`, or one interval after creation. Not with `cron`.',
  }),
  timezone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'IANA time-zone name the cron pattern is read in; `UTC` when absent.',
    example: 'Europe/Berlin',
  }),
  start_at: Nullable(Time('No occurrence before it.')),
  end_at: Nullable(Time('No occurrence after it; the schedule ends then.')),
  limit: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: SCHEDULE_LIMITS.limit,
      description: 'The most occurrences; it ends after the last.',
    }),
  ),
  missed: StringEnum(MISSED_POLICIES, {
    description:
      'Occurrences that passed while no node ran (the cluster was down longer than `schedules.missedAfter`): `skip` (default) none, `once` one message for all, `all` each, up to `schedules.catchUpMax`.',
  }),
  description: Type.String({ maxLength: SCHEDULE_LIMITS.description }),
};
const NewScheduleSchema = Type.Object(
  {
    id: Type.Optional(
      Type.String({
        pattern: DESTINATION_ID_PATTERN,
        description: 'A slug; generated (`sch_…`) when absent.',
      }),
    ),
    cron: Type.Optional(specProperties.cron),
    every: Type.Optional(specProperties.every),
    timezone: Type.Optional(specProperties.timezone),
    start_at: Type.Optional(specProperties.start_at),
    end_at: Type.Optional(specProperties.end_at),
    limit: Type.Optional(specProperties.limit),
    missed: Type.Optional(specProperties.missed),
    description: Type.Optional(specProperties.description),
    message: TemplateIn,
  },
  { additionalProperties: false },
);
const PatchScheduleSchema = Type.Object(
  {
    cron: Type.Optional(specProperties.cron),
    every: Type.Optional(specProperties.every),
    timezone: Type.Optional(specProperties.timezone),
    start_at: Type.Optional(specProperties.start_at),
    end_at: Type.Optional(specProperties.end_at),
    limit: Type.Optional(specProperties.limit),
    missed: Type.Optional(specProperties.missed),
    description: Type.Optional(specProperties.description),
    message: Type.Optional(
      Type.Partial(Type.Object(templateProperties), { additionalProperties: false, minProperties: 1 }),
    ),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ScheduleSchema = Type.Object(
  {
    id: Type.String(),
    cron: Nullable(Type.String()),
    every: Nullable(Type.String()),
    timezone: Type.String(),
    start_at: Nullable(DateTime),
    end_at: Nullable(DateTime),
    limit: Nullable(Type.Integer()),
    missed: StringEnum(MISSED_POLICIES),
    description: Type.String(),
    message: Type.Object({
      content: Type.String(),
      recipient_phone_number: Type.String(),
      priority: Type.Integer(),
      destination: Nullable(Type.String()),
      topic: Nullable(Type.String()),
    }),
    status: StringEnum(SCHEDULE_STATUSES, {
      description: '`active`, `paused` (no occurrence made; none caught up on resume), `ended` (none left).',
    }),
    next_run_at: Nullable(
      Type.String({ format: 'date-time', description: 'The next occurrence not made yet.' }),
    ),
    last_run_at: Nullable(Type.String({ format: 'date-time', description: 'The latest occurrence made.' })),
    run_count: Type.Integer({
      description: 'Occurrences made (catch-up runs included; skipped and triggered ones not).',
    }),
    created_at: DateTime,
    updated_at: DateTime,
    version: Type.Integer({ description: 'Bumped by every change of yours; send it back in `If-Match`.' }),
    upcoming: Type.Optional(
      Type.Array(
        Type.Object({ at: DateTime, local: Type.String({ description: 'In `timezone`, with its offset.' }) }),
        {
          description: 'Only in `GET /schedules/{id}`: the next 10 occurrences.',
        },
      ),
    ),
  },
  { $id: 'Schedule' },
);

const errorRef = Type.Ref('Error');
const scheduleRef = Type.Ref('Schedule');
const err = (description: string) => jsonResponse(description, errorRef);
const IdParams = Type.Object({
  id: Type.String({ pattern: DESTINATION_ID_PATTERN, description: 'The schedule id.' }),
});
const common = {
  405: MethodNotAllowedResponse,
  503: jsonResponse('The store did not answer (STORE_UNAVAILABLE).', errorRef, {
    'retry-after': Headers.retryAfter,
  }),
};
const notFound = { 404: err('No such schedule (NOT_FOUND).') };
const etag = { etag: Type.String({ description: 'The version, for If-Match.' }) };

const CODE_OF: Record<ScheduleError['kind'], ErrorCode> = {
  invalid: 'BAD_REQUEST',
  not_found: 'NOT_FOUND',
  exists: 'CONFLICT',
  stale: 'PRECONDITION_FAILED',
  unknown_destination: 'UNKNOWN_DESTINATION',
  no_subscriber: 'NO_SUBSCRIBER',
  ended: 'CONFLICT',
};

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof ScheduleError) {
      const details = e.problems.map((p) => ({ path: `body${p.path}`, message: p.message }));
      throw new AppError(CODE_OF[e.kind], e.message, details.length > 0 ? details : undefined);
    }
    throw e;
  }
}

function withEtag(reply: FastifyReply, s: Schedule): Record<string, unknown> {
  void reply.header('etag', `"${s.version}"`);
  return scheduleView(s);
}

/** Schedules over HTTP (scopes schedules:read / schedules:write); the CLI's `schedules` commands do the same. */
export const scheduleRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const service = deps.schedules;
  if (!service) return;

  r.post(
    '/schedules',
    {
      config: { scope: 'schedules:write' },
      schema: {
        tags: ['schedules'],
        operationId: 'createSchedule',
        summary: 'Send a message on a calendar: a cron pattern in a time zone, or an interval',
        description:
          'Each occurrence makes exactly one message (a fan-out for a `topic`), whatever the number of nodes, with `send_at` = the occurrence and the idempotency key `schedule:<id>:<occurrence>`, made `schedules.lookahead` ahead so it is delivered on time. Every problem in the body is listed in `details`.',
        body: NewScheduleSchema,
        response: {
          201: jsonResponse('The schedule as stored.', scheduleRef, etag),
          400: err('The body is not a valid schedule (BAD_REQUEST); `details` names each problem.'),
          409: err('The id is taken (CONFLICT).'),
          422: err('The message names a destination that does not exist (UNKNOWN_DESTINATION).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const s = await mapped(() => service.create(req.body as ScheduleInput, new Date()));
      req.log.info({ ...actorOf(req), schedule: s.id, next_run_at: s.next_run_at }, 'schedule created');
      return reply.status(201).send(withEtag(reply, s));
    },
  );

  r.get(
    '/schedules',
    {
      config: { scope: 'schedules:read' },
      schema: {
        tags: ['schedules'],
        operationId: 'listSchedules',
        summary: 'Schedules by id; paged with `after`',
        querystring: Type.Object(
          {
            limit: Type.Optional(
              Type.Integer({ minimum: 1, maximum: 500, description: 'Page size; 100 when absent.' }),
            ),
            after: Type.Optional(
              Type.String({
                maxLength: 64,
                description: 'The last id of the previous page (`Link` rel="next").',
              }),
            ),
            status: Type.Optional(
              StringEnum(SCHEDULE_STATUSES, { description: 'Only those of this status.' }),
            ),
          },
          { additionalProperties: true },
        ),
        response: {
          200: jsonResponse('One page of schedules.', Type.Array(scheduleRef), { link: Headers.link }),
          400: err('A bad limit or status (BAD_REQUEST).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const limit = req.query.limit ?? 100;
      const page = await service.list({
        limit,
        ...(req.query.after !== undefined ? { after: req.query.after } : {}),
        ...(req.query.status !== undefined ? { status: req.query.status } : {}),
      });
      if (page.next) {
        const q = new URLSearchParams({ limit: String(limit), after: page.next });
        if (req.query.status !== undefined) q.set('status', req.query.status);
        void reply.header('link', `</schedules?${q.toString()}>; rel="next"`);
      }
      return page.items.map(scheduleView);
    },
  );

  r.get(
    '/schedules/:id',
    {
      config: { scope: 'schedules:read' },
      schema: {
        tags: ['schedules'],
        operationId: 'getSchedule',
        summary: 'One schedule, with its next 10 occurrences (UTC and local)',
        params: IdParams,
        response: {
          200: jsonResponse('The schedule.', scheduleRef, etag),
          400: err('The id is not a schedule id (BAD_REQUEST).'),
          ...notFound,
          ...common,
        },
      },
    },
    async (req, reply) => {
      const s = await mapped(() => service.get(req.params.id));
      const upcoming = service
        .upcoming(s)
        .map((d) => ({ at: d.toISOString(), local: localTime(d, s.timezone) }));
      return { ...withEtag(reply, s), upcoming };
    },
  );

  r.patch(
    '/schedules/:id',
    {
      config: { scope: 'schedules:write' },
      schema: {
        tags: ['schedules'],
        operationId: 'updateSchedule',
        summary: 'Change some of a schedule’s settings',
        description:
          'Only the fields given change (`cron` replaces `every` and the other way round; the fields of `message` given replace those). A new calendar applies from now: messages already made ahead (`schedules.lookahead`) stay. With `If-Match: "<version>"`, only if nobody changed it since (412 otherwise).',
        params: IdParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 32 })) }),
        body: PatchScheduleSchema,
        response: {
          200: jsonResponse('The schedule after the change.', scheduleRef, etag),
          400: err('The body is not valid (BAD_REQUEST); `details` names each problem.'),
          ...notFound,
          412: err('It changed since the version in If-Match (PRECONDITION_FAILED).'),
          422: err('The message names a destination that does not exist (UNKNOWN_DESTINATION).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const version = ifMatch(req.headers['if-match']);
      const s = await mapped(() =>
        service.update(req.params.id, req.body as ScheduleInput, new Date(), version),
      );
      req.log.info(
        { ...actorOf(req), schedule: s.id, fields: Object.keys(req.body as object), version: s.version },
        'schedule changed',
      );
      return withEtag(reply, s);
    },
  );

  r.delete(
    '/schedules/:id',
    {
      config: { scope: 'schedules:write' },
      schema: {
        tags: ['schedules'],
        operationId: 'deleteSchedule',
        summary: 'Delete a schedule',
        description:
          'No occurrence is made after; messages already made (ahead, or waiting) stay. Takes no body.',
        params: IdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...notFound, ...common },
      },
    },
    async (req, reply) => {
      await mapped(() => service.remove(req.params.id));
      req.log.info({ ...actorOf(req), schedule: req.params.id }, 'schedule deleted');
      return reply.status(204).send(null);
    },
  );

  for (const action of ['pause', 'resume'] as const) {
    r.post(
      `/schedules/:id/${action}`,
      {
        config: { scope: 'schedules:write' },
        schema: {
          tags: ['schedules'],
          operationId: `${action}Schedule`,
          summary:
            action === 'pause'
              ? 'Stop making occurrences; messages already made stay'
              : 'Make occurrences again, from now (those that passed while paused are not made)',
          description: 'Pausing or resuming twice is not an error. Takes no body.',
          params: IdParams,
          response: {
            200: jsonResponse('The schedule after the action.', scheduleRef, etag),
            ...notFound,
            409: err('The schedule has ended (CONFLICT): change its end_at or limit to run it again.'),
            ...common,
          },
        },
      },
      async (req, reply) => {
        const now = new Date();
        const s = await mapped(() =>
          action === 'pause' ? service.pause(req.params.id, now) : service.resume(req.params.id, now),
        );
        req.log.info({ ...actorOf(req), schedule: s.id, status: s.status }, `schedule ${action}d`);
        return withEtag(reply, s);
      },
    );
  }

  r.post(
    '/schedules/:id/trigger',
    {
      config: { scope: 'schedules:write' },
      schema: {
        tags: ['schedules'],
        operationId: 'triggerSchedule',
        summary: 'One run now, outside the calendar',
        description:
          'Sends the schedule’s message now (to its destination, or its topic’s subscribers), paused or not; its next occurrence, run count and limit do not change. With an `Idempotency-Key`, a retried trigger makes one run. Takes no body.',
        params: IdParams,
        headers: IdempotencyHeaders,
        response: {
          201: jsonResponse(
            'The messages made (one; a topic: one per subscriber).',
            Type.Object({ messages: Type.Array(Type.Ref('Message')) }),
            { 'idempotent-replayed': Headers.replayed },
          ),
          ...notFound,
          422: err(
            'Its destination does not exist (UNKNOWN_DESTINATION), or no destination subscribes to its topic (NO_SUBSCRIBER).',
          ),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      const { messages, created } = await mapped(() => service.trigger(req.params.id, new Date(), key));
      if (!created) void reply.header('idempotent-replayed', 'true');
      req.log.info(
        { ...actorOf(req), schedule: req.params.id, messages: messages.map((m) => m.id) },
        'schedule triggered',
      );
      return reply.status(201).send({ messages: messages.map(messageJson) });
    },
  );
};
