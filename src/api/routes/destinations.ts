import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type, type TSchema } from '@sinclair/typebox';
import { AppError, type ErrorCode } from '../../errors/codes.js';
import {
  DEFAULT_DESTINATION_ID,
  DESTINATION_ID_PATTERN,
  publicUrl,
  type Destination,
} from '../../domain/destination.js';
import { DestinationError } from '../../destinations/destination-service.js';
import { destinationView, LIMITS, type DestinationInput } from '../../destinations/spec-input.js';
import type { ApiDeps } from '../deps.js';
import { Headers, jsonResponse, MethodNotAllowedResponse } from '../schemas.js';
import { actorOf } from '../access.js';
import { healthJson } from '../../destinations/health.js';
import { parseDuration } from '../../config/duration.js';

const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Duration = (description: string) =>
  Type.String({
    minLength: 1,
    maxLength: 32,
    description: `${description} Written as the config writes durations: "500ms", "30s", "5m", "24h".`,
  });
const SLUG = DESTINATION_ID_PATTERN;

const RateLimit = Type.Object(
  {
    limit: Type.Integer({ minimum: 1, maximum: 1_000_000, description: 'Requests per period.' }),
    period: Duration('The period.'),
    burst: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1_000_000,
        description: 'Most requests at once after a quiet time; `limit` when absent.',
      }),
    ),
  },
  { additionalProperties: false },
);
const Retry = Type.Object(
  {
    max_attempts: Type.Integer({ minimum: 1, maximum: LIMITS.maxAttempts }),
    base_delay: Duration('Backoff before the 2nd attempt; doubles each attempt, with full jitter.'),
    max_delay: Duration('Upper bound of one backoff.'),
    max_age: Type.Optional(
      Nullable(Duration('After this long since the message was created, no more attempts (null: no bound).')),
    ),
  },
  { additionalProperties: false },
);
const SecretIn = Type.Object(
  {
    secret: Type.String({
      minLength: 7,
      maxLength: 256,
      description: 'Standard Webhooks `whsec_` + base64. Never shown again.',
    }),
    expires_at: Type.Optional(
      Nullable(
        Type.String({
          maxLength: 64,
          description: 'RFC 3339: from then on it no longer signs (null: never).',
        }),
      ),
    ),
  },
  { additionalProperties: false },
);
const specProperties = {
  url: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'http(s) URL the webhooks are POSTed to; no credentials, no #fragment.',
  }),
  description: Type.String({ maxLength: LIMITS.description }),
  headers: Type.Record(Type.String(), Type.String(), {
    description: `Up to ${LIMITS.headers} headers sent with every request; never \`webhook-*\`, \`content-type\`, \`host\` or framing headers.`,
  }),
  secrets: Type.Array(SecretIn, {
    maxItems: LIMITS.secrets,
    description:
      'Signing secrets: every request carries one signature per secret not expired (rotation). None: requests are not signed.',
  }),
  timeout: Nullable(Duration(`One request's timeout, at most 5m (null: webhookClient.timeout).`)),
  rate_limit: Nullable(RateLimit),
  max_in_flight: Nullable(
    Type.Integer({
      minimum: 1,
      maximum: LIMITS.maxInFlight,
      description: 'Requests in flight at once across the cluster (null: no bound of its own).',
    }),
  ),
  retry: Nullable(Retry),
  topics: Type.Array(Type.String({ maxLength: 128 }), {
    maxItems: LIMITS.topics,
    description: 'The topics it subscribes to: a message sent to one of them is delivered here (fan-out).',
  }),
  metadata: Type.Record(Type.String(), Type.String(), {
    description: `Up to ${LIMITS.metadata} entries of your own.`,
  }),
};
const NewDestinationSchema = Type.Object(
  {
    id: Type.Optional(
      Type.String({
        pattern: SLUG,
        description:
          'A slug (lower-case letters, digits, `-`, `_`); generated (`dst_…`) when absent. Not `default`.',
      }),
    ),
    ...specProperties,
    description: Type.Optional(specProperties.description),
    headers: Type.Optional(specProperties.headers),
    secrets: Type.Optional(specProperties.secrets),
    timeout: Type.Optional(specProperties.timeout),
    rate_limit: Type.Optional(specProperties.rate_limit),
    max_in_flight: Type.Optional(specProperties.max_in_flight),
    retry: Type.Optional(specProperties.retry),
    topics: Type.Optional(specProperties.topics),
    metadata: Type.Optional(specProperties.metadata),
  },
  { additionalProperties: false },
);
const PatchDestinationSchema = Type.Partial(Type.Object(specProperties), {
  additionalProperties: false,
  minProperties: 1,
});

const HealthSchema = Type.Object(
  {
    circuit: Type.Union([Type.Literal('closed'), Type.Literal('open'), Type.Literal('half_open')], {
      description:
        'The circuit breaker, shared by every node: `open` (not attempted; messages keep their attempts), `half_open` (one node sends one probe), `closed`.',
    }),
    circuit_opened_at: Nullable(DateTime),
    circuit_until: Type.Union([DateTime, Type.Null()], {
      description: 'Open: a probe may be sent from then on. Half-open: the probe’s turn ends then.',
    }),
    failing_since: Type.Union([DateTime, Type.Null()], {
      description:
        'The first failure since the last success; `destinations.disableAfter` after it, the destination is disabled.',
    }),
    effective_rate: Nullable(
      Type.Number({
        description:
          'Requests per second it is sent at now: its `rate_limit`, lower while 429/503 answers slow it down (as the answering node sees it); null: no bound.',
      }),
    ),
    slowed_down: Type.Boolean(),
    in_flight: Type.Integer({ description: 'Its messages being delivered now, on every node.' }),
    due_backlog: Type.Integer({ description: 'Its unsent messages due now.' }),
    last_success_at: Nullable(DateTime),
    last_failure_at: Nullable(DateTime),
    success_ratio: Nullable(
      Type.Number({ description: 'Successes among its attempts of the window (every node); null: none.' }),
    ),
    attempts_in_window: Type.Integer(),
    window: Type.String({ description: 'The window (`destinations.breaker.window`).' }),
  },
  {
    description: 'Only in `GET /destinations/{id}`, and not for `default` (its figures are in /metrics).',
  },
);

export const DestinationSchema = Type.Object(
  {
    id: Type.String(),
    builtin: Type.Boolean({ description: 'true for `default`, the webhook of the config (read-only here).' }),
    url: Type.String(),
    description: Type.String(),
    headers: Type.Record(Type.String(), Type.String()),
    secrets: Type.Array(
      Type.Object({
        secret: Type.String({ description: 'Masked: `whsec_…` and the last 4 characters.' }),
        expires_at: Nullable(DateTime),
      }),
    ),
    timeout: Nullable(Type.String()),
    rate_limit: Nullable(
      Type.Object({ limit: Type.Integer(), period: Type.String(), burst: Type.Integer() }),
    ),
    max_in_flight: Nullable(Type.Integer()),
    retry: Nullable(
      Type.Object({
        max_attempts: Type.Integer(),
        base_delay: Type.String(),
        max_delay: Type.String(),
        max_age: Nullable(Type.String()),
      }),
    ),
    topics: Type.Array(Type.String()),
    metadata: Type.Record(Type.String(), Type.String()),
    status: Type.Union([Type.Literal('active'), Type.Literal('paused'), Type.Literal('disabled')]),
    disabled_reason: Nullable(Type.String()),
    disabled_at: Nullable(DateTime),
    created_at: DateTime,
    updated_at: DateTime,
    version: Type.Integer({
      description: 'Bumped by every change; send it back in `If-Match` to update only what you read.',
    }),
    health: Type.Optional(HealthSchema),
  },
  { $id: 'Destination' },
);

const errorRef = Type.Ref('Error');
const destinationRef = Type.Ref('Destination');
const err = (description: string) => jsonResponse(description, errorRef);
const IdParams = Type.Object({ id: Type.String({ pattern: SLUG, description: 'The destination id.' }) });
const common = {
  405: MethodNotAllowedResponse,
  503: jsonResponse('The store did not answer (STORE_UNAVAILABLE).', errorRef, {
    'retry-after': Headers.retryAfter,
  }),
};
const notFound = { 404: err('No such destination (NOT_FOUND).') };
const builtinConflict = { 409: err('`default` is the built-in destination of the config (CONFLICT).') };

/** A destination as the API answers it: secrets masked, durations as the config writes them. */
export function destinationJson(d: Destination): Record<string, unknown> {
  const builtin = d.id === DEFAULT_DESTINATION_ID;
  const view = destinationView(d);
  return { id: view.id, builtin, ...view, url: builtin ? publicUrl(d.url) : d.url };
}

/** Each kind of DestinationError's code (the problems, when any, go in `details` by their body path). */
const CODE_OF: Record<DestinationError['kind'], ErrorCode> = {
  invalid: 'BAD_REQUEST',
  url_denied: 'URL_NOT_ALLOWED',
  not_found: 'NOT_FOUND',
  builtin: 'CONFLICT',
  exists: 'CONFLICT',
  stale: 'PRECONDITION_FAILED',
};

function apiError(e: DestinationError): AppError {
  const details = e.problems.map((p) => ({ path: `body${p.path}`, message: p.message }));
  return new AppError(CODE_OF[e.kind], e.message, details.length > 0 ? details : undefined);
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof DestinationError) throw apiError(e);
    throw e;
  }
}

/** `If-Match: "3"` (or `3`) as the version to update; undefined when absent; 400 when not a version. */
export function ifMatch(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d{1,9})"?\s*$/.exec(value);
  if (!m) throw new AppError('BAD_REQUEST', 'If-Match: expected the version a GET answered, as "3"');
  return Number(m[1]);
}

function withEtag(reply: FastifyReply, d: Destination): Record<string, unknown> {
  void reply.header('etag', `"${d.version}"`);
  return destinationJson(d);
}

/** Destinations over HTTP (scopes destinations:read / destinations:write); the CLI's `destinations` commands do the same. */
export const destinationRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const service = deps.destinations;
  const etag = { etag: Type.String({ description: 'The version, for If-Match.' }) };

  r.post(
    '/destinations',
    {
      config: { scope: 'destinations:write' },
      schema: {
        tags: ['destinations'],
        operationId: 'createDestination',
        summary: 'Add a destination: a receiver with its own URL, secrets, limits and retries',
        description:
          'Every problem in the body is listed in `details`, by its path. A URL whose host is an address denied by `destinations.denyAddresses` is refused (URL_NOT_ALLOWED); a name is checked on what it resolves to at each connection.',
        body: NewDestinationSchema,
        response: {
          201: jsonResponse('The destination as stored (secrets masked).', destinationRef, etag),
          400: err(
            'The body is not a valid destination (BAD_REQUEST, URL_NOT_ALLOWED); `details` names each problem.',
          ),
          409: err('The id is taken, or is `default` (CONFLICT).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const d = await mapped(() => service.create(req.body as DestinationInput, new Date()));
      req.log.info({ ...actorOf(req), destination: d.id, url: d.url }, 'destination created');
      return reply.status(201).send(withEtag(reply, d));
    },
  );

  r.get(
    '/destinations',
    {
      config: { scope: 'destinations:read' },
      schema: {
        tags: ['destinations'],
        operationId: 'listDestinations',
        summary: 'Destinations by id, `default` among them; paged with `after`',
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
            topic: Type.Optional(
              Type.String({ maxLength: 128, description: 'Only those subscribed to this topic.' }),
            ),
          },
          { additionalProperties: true },
        ),
        response: {
          200: jsonResponse('One page of destinations.', Type.Array(destinationRef), { link: Headers.link }),
          400: err('A bad limit (BAD_REQUEST).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const limit = req.query.limit ?? 100;
      const page = await service.list({
        limit,
        ...(req.query.after !== undefined ? { after: req.query.after } : {}),
        ...(req.query.topic !== undefined ? { topic: req.query.topic } : {}),
      });
      if (page.next) {
        const q = new URLSearchParams({ limit: String(limit), after: page.next });
        if (req.query.topic !== undefined) q.set('topic', req.query.topic);
        void reply.header('link', `</destinations?${q.toString()}>; rel="next"`);
      }
      return page.items.map(destinationJson);
    },
  );

  r.get(
    '/destinations/:id',
    {
      config: { scope: 'destinations:read' },
      schema: {
        tags: ['destinations'],
        operationId: 'getDestination',
        summary: 'One destination (secrets masked)',
        params: IdParams,
        response: {
          200: jsonResponse('The destination.', destinationRef, etag),
          400: err('The id is not a destination id (BAD_REQUEST).'),
          ...notFound,
          ...common,
        },
      },
    },
    async (req, reply) => {
      const d = await mapped(() => service.get(req.params.id));
      const json = withEtag(reply, d);
      if (d.id === DEFAULT_DESTINATION_ID || !deps.health) return json;
      return { ...json, health: healthJson(await deps.health.of(d)) };
    },
  );

  r.patch(
    '/destinations/:id',
    {
      config: { scope: 'destinations:write' },
      schema: {
        tags: ['destinations'],
        operationId: 'updateDestination',
        summary: 'Change some of a destination’s settings',
        description:
          'Only the fields given change; `null` sets a setting back to the service’s default. `secrets`, when given, replace every secret (send the old one with an `expires_at` and the new one to rotate). With `If-Match: "<version>"`, only if nobody changed it since (412 otherwise).',
        params: IdParams,
        headers: Type.Object({ 'if-match': Type.Optional(Type.String({ maxLength: 32 })) }),
        body: PatchDestinationSchema,
        response: {
          200: jsonResponse('The destination after the change.', destinationRef, etag),
          400: err('The body is not valid (BAD_REQUEST, URL_NOT_ALLOWED); `details` names each problem.'),
          ...notFound,
          ...builtinConflict,
          412: err('It changed since the version in If-Match (PRECONDITION_FAILED).'),
          ...common,
        },
      },
    },
    async (req, reply) => {
      const version = ifMatch(req.headers['if-match']);
      const d = await mapped(() =>
        service.update(req.params.id, req.body as DestinationInput, new Date(), version),
      );
      req.log.info(
        { ...actorOf(req), destination: d.id, fields: Object.keys(req.body as object), version: d.version },
        'destination changed',
      );
      return withEtag(reply, d);
    },
  );

  r.delete(
    '/destinations/:id',
    {
      config: { scope: 'destinations:write' },
      schema: {
        tags: ['destinations'],
        operationId: 'deleteDestination',
        summary: 'Delete a destination',
        description:
          'Its messages not yet sent are not lost: they fail at once, with `last_error` naming the deleted destination and no attempt counted, and can be retried (POST /messages/{id}/retry) once a destination of that id exists again. Takes no body.',
        params: IdParams,
        response: {
          204: Type.Null({ description: 'Deleted.' }),
          ...notFound,
          ...builtinConflict,
          ...common,
        },
      },
    },
    async (req, reply) => {
      await mapped(() => service.remove(req.params.id));
      req.log.info({ ...actorOf(req), destination: req.params.id }, 'destination deleted');
      return reply.status(204).send(null);
    },
  );

  for (const [action, status] of [
    ['pause', 'paused'],
    ['resume', 'active'],
  ] as const) {
    r.post(
      `/destinations/:id/${action}`,
      {
        config: { scope: 'destinations:write' },
        schema: {
          tags: ['destinations'],
          operationId: `${action}Destination`,
          summary:
            action === 'pause'
              ? 'Stop delivering to a destination; its messages wait'
              : 'Deliver to a destination again (also after it was disabled)',
          description:
            'Every node follows at once where nodes push to each other (PostgreSQL, Redis), else within `destinations.refreshInterval`; deliveries in flight finish. Pausing or resuming twice is not an error. Takes no body.',
          params: IdParams,
          response: {
            200: jsonResponse('The destination after the action.', destinationRef, etag),
            ...notFound,
            ...builtinConflict,
            ...common,
          },
        },
      },
      async (req, reply) => {
        const d = await mapped(() => service.setStatus(req.params.id, status, new Date()));
        req.log.info({ ...actorOf(req), destination: d.id, status: d.status }, `destination ${action}d`);
        // its waiting messages can be claimed again
        if (action === 'resume') deps.onCreated();
        return withEtag(reply, d);
      },
    );
  }

  r.post(
    '/destinations/:id/rotate-secret',
    {
      config: { scope: 'destinations:write' },
      schema: {
        tags: ['destinations'],
        operationId: 'rotateDestinationSecret',
        summary: 'Make a new signing secret; the current ones stop after an overlap',
        description:
          'The new secret (`whsec_…`) is in this answer only. It signs every request from now on, beside the current secrets until `overlap` has passed (default 24h), so the receiver can switch without a failed delivery.',
        params: IdParams,
        body: Type.Optional(
          Type.Object(
            {
              overlap: Type.Optional(
                Type.String({
                  maxLength: 32,
                  description: 'How long the current secrets still sign, e.g. "24h", "0s".',
                }),
              ),
            },
            { additionalProperties: false },
          ),
        ),
        response: {
          200: jsonResponse(
            'The new secret (shown once) and the destination after the change.',
            Type.Object({ secret: Type.String(), destination: destinationRef }),
          ),
          400: err('A bad overlap (BAD_REQUEST).'),
          ...notFound,
          ...builtinConflict,
          412: err('It kept changing meanwhile (PRECONDITION_FAILED).'),
          ...common,
        },
      },
    },
    async (req) => {
      const text = req.body?.overlap ?? '24h';
      const overlap = parseDuration(text);
      if (overlap === null || overlap > 90 * 24 * 3_600_000) {
        throw new AppError(
          'BAD_REQUEST',
          `overlap: expected a duration up to 90 days such as "24h", not ${JSON.stringify(text)}`,
          [{ path: 'body/overlap', message: 'not a duration up to 90 days' }],
        );
      }
      const { destination, secret } = await mapped(() =>
        service.rotateSecret(req.params.id, overlap, new Date()),
      );
      req.log.info(
        { ...actorOf(req), destination: destination.id, overlap: text },
        'destination secret rotated',
      );
      return { secret, destination: destinationJson(destination) };
    },
  );
};
