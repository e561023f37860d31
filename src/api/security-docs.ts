import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { SCOPES } from '../domain/scopes.js';
import { jsonResponse } from './schemas.js';
import fp from 'fastify-plugin';

const PLACEHOLDER_TOKEN_URL = 'https://authorization-server.invalid/token';

/** The security schemes of the OpenAPI document: an API key two ways, and OAuth2 client credentials. */
export function securitySchemes(tokenUrl: string) {
  return {
    bearer: {
      type: 'http' as const,
      scheme: 'bearer',
      bearerFormat: 'ms_… API key, or an OAuth2 JWT access token',
      description:
        '`Authorization: Bearer <key>`: an API key (`message-scheduler keys create`) or an OAuth2 access token.',
    },
    apiKey: {
      type: 'apiKey' as const,
      in: 'header' as const,
      name: 'X-API-Key',
      description: 'The same API key in a header of its own.',
    },
    oauth2: {
      type: 'oauth2' as const,
      description:
        'JWT access tokens of the authorization server named by `auth.jwt.issuer` (checked against `auth.jwt.jwksUrl`). ' +
        (tokenUrl === '' ? 'Set `auth.jwt.tokenUrl` to show its real token endpoint here.' : ''),
      flows: {
        clientCredentials: {
          tokenUrl: tokenUrl === '' ? PLACEHOLDER_TOKEN_URL : tokenUrl,
          scopes: { ...SCOPES },
        },
      },
    },
  };
}

const errorRef = Type.Ref('Error');
const header = (description: string) => Type.String({ description });
const AUTH_RESPONSES = {
  401: jsonResponse('No credentials, or not valid ones (UNAUTHORIZED).', errorRef, {
    'www-authenticate': header(
      '`Bearer realm="message-scheduler"`, with `error="invalid_token"` when one was sent (RFC 6750).',
    ),
  }),
  403: jsonResponse(
    'Valid credentials without the scope (INSUFFICIENT_SCOPE); protected mode (PROTECTED_MODE); a Host or cross-site origin that is not allowed (HOST_NOT_ALLOWED, CROSS_SITE_REQUEST).',
    errorRef,
    {
      'www-authenticate': header(
        'Sent with INSUFFICIENT_SCOPE only: `Bearer realm="message-scheduler", error="insufficient_scope", scope="<the scope needed>"` (RFC 6750 §3.1).',
      ),
    },
  ),
  429: jsonResponse("The client's token bucket is empty (RATE_LIMITED).", errorRef, {
    'retry-after': header('Seconds until a request is accepted again.'),
  }),
};

/** What every answer of a rate-limited operation carries while apiRateLimiter is on. */
const RATE_LIMIT_HEADERS = {
  ratelimit: header(
    '`"api";r=<remaining>;t=<seconds until the bucket is full>` (IETF RateLimit headers draft); on every answer while apiRateLimiter is on.',
  ),
  'ratelimit-policy': header('`"api";q=<bucket size>;w=<seconds to refill it>`.'),
};

interface DocumentedResponse {
  headers?: Record<string, unknown>;
}

/** Each response with the rate-limit headers added to its own (a copy: responses are shared). */
function withRateLimitHeaders(responses: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(responses).map(([status, r]) => {
      const res = r as DocumentedResponse;
      return [status, { ...res, headers: { ...(res.headers ?? {}), ...RATE_LIMIT_HEADERS } }];
    }),
  );
}

/**
 * Each operation's scope goes into the OpenAPI document from the one place the
 * access hook reads it (the route's `config.scope`), with the answers access
 * control can give.
 */
export function documentSecurity(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope;
    if (!scope || !route.schema) return;
    // 'any': credentials with any scope (GET /me), none in particular
    const any = scope === 'any';
    // an operation that also answers without credentials (GET /me) says so: `{}` is "none" in OpenAPI
    const optional = route.config?.credentialOptional === true;
    route.schema.security = [
      ...(optional ? [{}] : []),
      { bearer: [] },
      { apiKey: [] },
      { oauth2: any ? [] : [scope] },
    ];
    const note = optional
      ? 'Credentials optional: any scope.'
      : any
        ? 'Needs credentials, with any scope.'
        : `Needs the scope \`${scope}\`.`;
    // a GET's HEAD shares its schema object: the note goes in once
    const before = route.schema.description;
    if (!before?.endsWith(note)) route.schema.description = before ? `${before}\n\n${note}` : note;
    const responses = (route.schema.response ?? {}) as Record<string, unknown>;
    // every scoped operation draws on the API rate limit (access.ts): each answer says where it stands
    route.schema.response = withRateLimitHeaders({ ...AUTH_RESPONSES, ...responses });
  });
}

/** Each operation's security in the OpenAPI document, as a plugin of the root instance. */
export const securityDocs = fp(async (app) => documentSecurity(app), {
  name: 'security-docs',
  fastify: '5.x',
});
