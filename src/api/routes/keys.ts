import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../errors/codes.js';
import { createApiKey, KeyRequestError, keyExpiry, keyJson } from '../../auth/key-admin.js';
import { SCOPE_NAMES } from '../../domain/scopes.js';
import type { ApiDeps } from '../deps.js';
import { jsonResponse, MethodNotAllowedResponse, StringEnum } from '../schemas.js';
import { actorOf } from '../access.js';

const DateTime = Type.String({ format: 'date-time' });
const ScopeSchema = StringEnum(SCOPE_NAMES, { description: 'What the key may do (docs/security.md).' });
/** Registered with the shared schemas at the root: a schema added in a child context brings Fastify's default (coercing) validator back there. */
export const KeySchema = Type.Object(
  {
    id: Type.String({ description: 'The public part of the key (`ms_<id>_…`).' }),
    name: Type.String(),
    scopes: Type.Array(ScopeSchema),
    created_at: DateTime,
    last_used_at: Type.Union([DateTime, Type.Null()], {
      description: 'Last use seen by any node (written in batches, every auth.keyRefreshInterval).',
    }),
    revoked_at: Type.Union([DateTime, Type.Null()]),
    expires_at: Type.Union([DateTime, Type.Null()], {
      description: 'From then on the key lets no one in (null: it does not expire).',
    }),
  },
  { $id: 'ApiKey' },
);
/** The answer to a create: the key's fields and, this once, the key itself. */
const NewKeySchema = Type.Object({
  ...KeySchema.properties,
  key: Type.String({ description: '`ms_<id>_<secret>`: shown only in this answer.' }),
});
const errorRef = Type.Ref('Error');
const keyRef = Type.Ref('ApiKey');

/** API keys over HTTP (scope admin); the CLI's `keys` commands do the same on the store directly. */
export const keyRoutes: FastifyPluginAsync<ApiDeps> = async (app, deps) => {
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  const { keys } = deps.store;

  r.post(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        operationId: 'createApiKey',
        summary: 'Create an API key (it is shown once, in this answer)',
        description:
          'Only the SHA-256 of the key is stored. Every node accepts it within `auth.keyRefreshInterval`.',
        body: Type.Object(
          {
            name: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
            scopes: Type.Array(ScopeSchema, { minItems: 1, maxItems: SCOPE_NAMES.length, uniqueItems: true }),
            expires_at: Type.Optional(
              Type.String({
                format: 'date-time',
                description:
                  'When the key stops letting anyone in: in the future, and within auth.apiKeyMaxLifetime (90 days by default), which is also the default.',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: {
          201: jsonResponse(
            'The key, with the secret: store it now, it cannot be shown again.',
            NewKeySchema,
          ),
          400: jsonResponse('A bad name or scope (BAD_REQUEST).', errorRef),
          405: MethodNotAllowedResponse,
        },
      },
    },
    async (req, reply) => {
      let made;
      try {
        const now = new Date();
        const expiresAt = keyExpiry(req.body.expires_at, deps.access.keyMaxLifetimeMs, now);
        made = await createApiKey(keys, req.body.name, req.body.scopes, now, expiresAt);
      } catch (err) {
        if (err instanceof KeyRequestError) throw new AppError('BAD_REQUEST', err.message);
        throw err;
      }
      await deps.access.auth.keys.refresh();
      req.log.info(
        {
          ...actorOf(req),
          key_id: made.record.id,
          key_name: made.record.name,
          scopes: made.record.scopes,
          expires_at: made.record.expires_at?.toISOString() ?? null,
        },
        'API key created',
      );
      return reply.status(201).send({ ...keyJson(made.record), key: made.key });
    },
  );

  r.get(
    '/keys',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        operationId: 'listApiKeys',
        summary: 'API keys in the store, revoked ones too (never the key or its hash)',
        description: 'Keys given in the config (`auth.apiKeys`) are not listed.',
        response: {
          200: jsonResponse('Every key, oldest first.', Type.Array(keyRef)),
          405: MethodNotAllowedResponse,
        },
      },
    },
    async () => (await keys.listKeys()).map(keyJson),
  );

  r.delete(
    '/keys/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['keys'],
        operationId: 'revokeApiKey',
        summary: 'Revoke an API key',
        description:
          'Every node refuses it within `auth.keyRefreshInterval`. Revoking twice is not an error.',
        params: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{12}$', description: 'The key id.' }) }),
        response: {
          200: jsonResponse('The key, now revoked.', keyRef),
          400: jsonResponse('The id is not 12 hex digits (BAD_REQUEST).', errorRef),
          404: jsonResponse('No such key (NOT_FOUND).', errorRef),
          405: MethodNotAllowedResponse,
        },
      },
    },
    async (req) => {
      const record = await keys.revokeKey(req.params.id, new Date());
      if (!record) throw new AppError('NOT_FOUND', `no API key ${req.params.id}`);
      await deps.access.auth.keys.refresh();
      req.log.info({ ...actorOf(req), key_id: record.id, key_name: record.name }, 'API key revoked');
      if (deps.access.auth.keys.count() === 0 && !deps.access.auth.oauth2) {
        req.log.warn(
          'no API key is left: the API stays closed to anonymous clients (protected mode does not come back); make a key with `message-scheduler keys create`, which writes to the store directly',
        );
      }
      return keyJson(record);
    },
  );
};
