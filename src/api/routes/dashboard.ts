import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { MESSAGE_STATUSES } from '../../domain/message.js';
import { SCOPE_NAMES } from '../../domain/scopes.js';
import { DESTINATION_ID_PATTERN } from '../../domain/destination.js';
import { BULK_RETRY_STATUSES, bulkRetry } from '../../dashboard/bulk-retry.js';
import type { OverviewView } from '../../dashboard/overview.js';
import type { ApiDeps } from '../deps.js';
import { jsonResponse, MethodNotAllowedResponse, StringEnum } from '../schemas.js';
import { actorOf } from '../access.js';
import { timeRange } from './messages.js';

const errorRef = Type.Ref('Error');
const err = (description: string) => jsonResponse(description, errorRef);
const common = {
  405: MethodNotAllowedResponse,
  503: err('The store did not answer (STORE_UNAVAILABLE).'),
};
const DateTime = Type.String({ format: 'date-time' });
const perMinute = (description: string) => Type.Array(Type.Integer({ minimum: 0 }), { description });

const MeSchema = Type.Object({
  kind: StringEnum(['api_key', 'jwt', 'anonymous', 'none'] as const, {
    description:
      '`anonymous`: no credential was needed (protected mode from a loopback client with none configured, or `api.auth: none`); `none`: the request had no credential and needs one (no scope).',
  }),
  name: Type.String({ description: "The key's name or the token's subject." }),
  scopes: Type.Array(StringEnum(SCOPE_NAMES), { description: 'What this credential may do.' }),
});

const OverviewSchema = Type.Object({
  at: DateTime,
  counts: Type.Object(Object.fromEntries(MESSAGE_STATUSES.map((s) => [s, Type.Integer({ minimum: 0 })])), {
    description: 'Messages per status, each counted to `count_cap` + 1 at most (more than `count_cap`).',
  }),
  count_cap: Type.Integer(),
  oldest_due_at: Type.Union([DateTime, Type.Null()]),
  oldest_due_age_seconds: Type.Number({ description: 'How long the oldest due unsent message has waited.' }),
  activity: Type.Object(
    {
      from: DateTime,
      minutes: Type.Integer(),
      delivered: perMinute('Messages sent, per minute, oldest minute first (the current one last).'),
      failed: perMinute('Messages that failed for good (retries used up, refused content, unknown outcome).'),
      retried: perMinute('Attempts that failed and will be tried again.'),
      lateness_p99_ms: Type.Array(Type.Union([Type.Integer(), Type.Null()]), {
        description:
          "An upper bound of the p99 lateness of first attempts, the worst node's (null: none sent).",
      }),
      nodes_reporting: Type.Integer({ description: 'Live nodes whose deliveries are counted.' }),
    },
    { description: "The cluster's last 30 minutes, from the live nodes' heartbeats." },
  ),
  pool: Type.Union([Type.Ref('PoolState'), Type.Null()], {
    description: 'The pool and its nodes, for a credential with `pool:control` (null otherwise).',
  }),
});

const BulkRetryBody = Type.Object(
  {
    status: Type.Optional(
      StringEnum(BULK_RETRY_STATUSES, { description: 'Only this status; absent: failed and unknown.' }),
    ),
    destination: Type.Optional(Type.String({ pattern: DESTINATION_ID_PATTERN })),
    group_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    recipient: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    from: Type.Optional(Type.String({ format: 'date-time', description: 'Created at or after.' })),
    to: Type.Optional(Type.String({ format: 'date-time', description: 'Created before.' })),
    dry_run: Type.Optional(Type.Boolean({ description: 'Only count what would be retried.' })),
    max: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 100_000,
        description: 'At most this many (default 10,000), newest first; `more` says whether others match.',
      }),
    ),
  },
  { additionalProperties: false },
);

const BulkRetryAnswer = Type.Object({
  dry_run: Type.Boolean(),
  matched: Type.Integer({ description: 'How many matched (at most `max`).' }),
  retried: Type.Integer({
    description: 'How many went back to unsent (0 in a dry run; fewer when some changed meanwhile).',
  }),
  more: Type.Boolean({ description: 'More than `max` matched: send the request again for the rest.' }),
});

function overviewJson(v: OverviewView): Record<string, unknown> {
  const a = v.activity;
  return {
    at: v.at.toISOString(),
    counts: v.counts,
    count_cap: v.count_cap,
    oldest_due_at: v.oldest_due_at?.toISOString() ?? null,
    oldest_due_age_seconds: v.oldest_due_age_seconds,
    activity: {
      from: a.from.toISOString(),
      minutes: a.delivered.length,
      delivered: a.delivered,
      failed: a.failed,
      retried: a.retried,
      lateness_p99_ms: a.lateness_p99_ms,
      nodes_reporting: a.nodes_reporting,
    },
  };
}

/**
 * What the dashboard needs besides the resources' own operations: who the credential is, the
 * overview, and a retry of many messages at once. Each is an API operation like any other.
 */
export const dashboardRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.get(
    '/me',
    {
      config: { scope: 'any', credentialOptional: true },
      schema: {
        tags: ['dashboard'],
        operationId: 'whoAmI',
        summary: 'Who the credential is and what its scopes allow',
        description:
          'The dashboard offers only what these scopes allow. Without a credential where one is needed: 200 with `kind: none` and no scope (not 401), so a page can ask for one without an error. A credential that is not valid is 401.',
        response: { 200: jsonResponse('The credential.', MeSchema), 405: MethodNotAllowedResponse },
      },
    },
    async (req) => {
      const p = req.principal;
      return {
        kind: p?.kind ?? 'none',
        name: p?.name ?? '',
        scopes: [...(p?.scopes ?? [])].sort(),
      };
    },
  );

  const overview = deps.overview;
  if (overview) {
    r.get(
      '/overview',
      {
        config: { scope: 'messages:read' },
        schema: {
          tags: ['dashboard'],
          operationId: 'getOverview',
          summary: 'Backlog, deliveries and failures per minute, lateness, and the pool',
          description:
            "At a bounded cost whatever the store holds: each status counted to `count_cap` from its own index, the oldest due message from the due index, the last 30 minutes' deliveries from the live nodes' heartbeats.",
          response: { 200: jsonResponse('The overview.', OverviewSchema), ...common },
        },
      },
      async (req) => {
        const view = overviewJson(await overview.read());
        const pool = req.principal?.scopes.has('pool:control')
          ? { status: deps.pool.getState(), nodes: await deps.pool.nodes() }
          : null;
        return { ...view, pool };
      },
    );
  }

  r.post(
    '/messages/bulk-retry',
    {
      config: { scope: 'messages:write' },
      schema: {
        tags: ['messages'],
        operationId: 'retryMessages',
        summary: 'Send again the failed or unknown messages that match a filter (or count them)',
        description:
          'As `POST /messages/{id}/retry` for each message that matches, newest first, at most `max`. With `"dry_run": true`, only counts them. Logged at info level with the actor, the filter and the counts.',
        body: BulkRetryBody,
        response: {
          200: jsonResponse('What matched and what was retried.', BulkRetryAnswer),
          400: err('The body does not match the schema, or `from` is not before `to` (BAD_REQUEST).'),
          415: err('The body is not application/json (UNSUPPORTED_MEDIA_TYPE).'),
          ...common,
        },
      },
    },
    async (req) => {
      const b = req.body;
      const range = timeRange(b, 'created', 'body');
      const dryRun = b.dry_run ?? false;
      const filter = {
        statuses: b.status ? [b.status] : BULK_RETRY_STATUSES,
        destination: b.destination,
        group: b.group_id,
        recipient: b.recipient,
        since: range.from,
        before: range.to,
      };
      const result = await bulkRetry(deps.store, filter, {
        dryRun,
        max: b.max ?? 10_000,
        now: () => new Date(),
      });
      req.log.info(
        {
          ...actorOf(req),
          filter: { ...filter, statuses: [...filter.statuses] },
          dry_run: dryRun,
          matched: result.matched,
          retried: result.retried,
          more: result.more,
        },
        dryRun ? 'bulk retry counted' : 'bulk retry',
      );
      if (result.retried > 0) deps.onCreated();
      return { dry_run: dryRun, ...result };
    },
  );
};
