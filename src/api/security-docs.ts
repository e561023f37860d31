import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { SCOPES } from '../auth/scopes.js';
import { jsonResponse } from './schemas.js';

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
  ),
  429: jsonResponse("The client's token bucket is empty (RATE_LIMITED).", errorRef, {
    'retry-after': header('Seconds until a request is accepted again.'),
    ratelimit: header(
      '`"api";r=<remaining>;t=<seconds until the bucket is full>` (IETF RateLimit headers draft).',
    ),
    'ratelimit-policy': header('`"api";q=<bucket size>;w=<seconds to refill it>`.'),
  }),
};

/**
 * Each operation's scope goes into the OpenAPI document from the one place the
 * access hook reads it (the route's `config.scope`), with the answers access
 * control can give.
 */
export function documentSecurity(app: FastifyInstance): void {
  app.addHook('onRoute', (route) => {
    const scope = route.config?.scope;
    if (!scope || !route.schema) return;
    route.schema.security = [{ bearer: [] }, { apiKey: [] }, { oauth2: [scope] }];
    const note = `Needs the scope \`${scope}\`.`;
    route.schema.description = route.schema.description ? `${route.schema.description}\n\n${note}` : note;
    const responses = (route.schema.response ?? {}) as Record<string, unknown>;
    route.schema.response = { ...AUTH_RESPONSES, ...responses };
  });
}
