import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/codes.js';
import { anonymous, InvalidToken, type Authenticator } from '../auth/authenticator.js';
import type { Principal, Scope } from '../auth/scopes.js';
import type { BucketPolicy, KeyedBuckets } from '../ratelimit/token-bucket.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the scope an operation needs; none: public */
    scope?: Scope;
  }
  interface FastifyRequest {
    /** who sent the request (null: a public route reached without credentials) */
    principal: Principal | null;
  }
}

export interface AccessOptions {
  auth: Authenticator;
  swaggerPublic: boolean;
  /** accepted Host values, lower case; empty: any */
  allowedHosts: readonly string[];
  /** browser origins allowed to make state-changing requests (and CORS) */
  corsOrigins: readonly string[];
  limiter: { buckets: KeyedBuckets; policy: BucketPolicy } | null;
}

/** Never authenticated, never rate limited, any Host: what load balancers and orchestrators probe. */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REALM = 'realm="message-scheduler"';

/** `[::1]:3000` → `[::1]`, `Example.com:80` → `example.com` */
export function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const i = h.lastIndexOf(':');
  return i >= 0 ? h.slice(0, i) : h;
}

export function isLoopbackAddress(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

function unauthorized(message: string, error?: 'invalid_token' | 'invalid_request'): AppError {
  const challenge = error
    ? `Bearer ${REALM}, error="${error}", error_description="${message.replace(/[^\x20-\x7e]|"/g, "'")}"`
    : `Bearer ${REALM}`;
  return new AppError('UNAUTHORIZED', message, undefined, { 'www-authenticate': challenge });
}

/** The credential of a request: `Authorization: Bearer …` or `X-API-Key`; null when there is none. */
function credentialOf(req: FastifyRequest): string | null {
  const authz = req.headers.authorization;
  if (authz !== undefined) {
    const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authz);
    if (!m?.[1])
      throw unauthorized('the Authorization header must be "Bearer <API key or token>"', 'invalid_request');
    return m[1];
  }
  const key = req.headers['x-api-key'];
  if (typeof key === 'string' && key !== '') return key;
  return null;
}

/**
 * A Host an anonymous request may name: a loopback name, an IP literal (a DNS-rebinding page names
 * the attacker's domain, never an address) or an `api.allowedHosts` entry.
 */
export function anonymousHostOk(host: string, allowed: ReadonlySet<string>): boolean {
  const name = hostName(host);
  return (
    LOOPBACK_NAMES.has(name) ||
    /^\d{1,3}(\.\d{1,3}){3}$/.test(name) ||
    /^\[[0-9a-f:.]+\]$/.test(name) ||
    allowed.has(host) ||
    allowed.has(name)
  );
}

function sameOrigin(origin: string, host: string): boolean {
  return origin === `http://${host}` || origin === `https://${host}`;
}

/**
 * Who may do what, before a body is read: the Host check (DNS rebinding), the
 * credential (API key or OAuth2 token), protected mode, the operation's scope,
 * the cross-site guard for state changes, and the client's token bucket.
 * docs/decisions.md, "Access control".
 */
export function installAccess(app: FastifyInstance, o: AccessOptions): void {
  const allowedHosts = new Set(o.allowedHosts);
  const origins = new Set(o.corsOrigins);
  const policyHeader = o.limiter
    ? `"api";q=${o.limiter.policy.maxTokens};w=${Math.max(1, Math.ceil((o.limiter.policy.maxTokens * o.limiter.policy.refillIntervalMs) / o.limiter.policy.refillRate / 1000))}`
    : '';

  async function limit(bucket: string, reply: FastifyReply): Promise<void> {
    if (!o.limiter) return;
    const r = await o.limiter.buckets.take(bucket, 1);
    void reply.header('ratelimit-policy', policyHeader);
    void reply.header('ratelimit', `"api";r=${r.remaining};t=${Math.ceil(r.fullInMs / 1000)}`);
    if (!r.allowed) {
      const wait = Math.max(1, Math.ceil(r.retryAfterMs / 1000));
      throw new AppError(
        'RATE_LIMITED',
        `too many requests from this client (apiRateLimiter: ${o.limiter.policy.maxTokens} at once, ${o.limiter.policy.refillRate} per ${o.limiter.policy.refillIntervalMs} ms); retry in ${wait} s`,
        undefined,
        { 'retry-after': String(wait) },
      );
    }
  }

  function crossSite(req: FastifyRequest, host: string, hasCredential: boolean): void {
    const origin = req.headers.origin;
    const fetchSite = req.headers['sec-fetch-site'];
    const fromElsewhere =
      origin !== undefined
        ? !origins.has(origin) && !sameOrigin(origin, host)
        : fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none';
    if (fromElsewhere) {
      throw new AppError(
        'CROSS_SITE_REQUEST',
        `a ${req.method} from the page of another origin (${origin ?? fetchSite}) is refused; allow the origin in api.cors.origins`,
      );
    }
    // what a cross-site form or fetch can send without a preflight: a POST whose body is a form, text or
    // nothing. Without credentials (protected mode, api.auth none) a POST must say it is JSON.
    if (req.method === 'POST' && !hasCredential) {
      const type = req.headers['content-type'] ?? '';
      if (!/^application\/json\s*(;|$)/i.test(type)) {
        throw new AppError(
          'UNSUPPORTED_MEDIA_TYPE',
          'a POST without credentials needs Content-Type: application/json (an empty body is fine), so that a cross-site form cannot make it',
        );
      }
    }
  }

  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url;
    if (route !== undefined && PROBE_ROUTES.has(route)) return;
    const host = (req.headers.host ?? '').toLowerCase();
    if (allowedHosts.size > 0 && !allowedHosts.has(host) && !allowedHosts.has(hostName(host))) {
      throw new AppError('HOST_NOT_ALLOWED', `Host ${JSON.stringify(host)} is not in api.allowedHosts`);
    }
    const address = req.socket.remoteAddress ?? 'unknown';
    const credential = credentialOf(req);
    let principal: Principal | null = null;
    if (credential !== null) {
      try {
        principal = await o.auth.authenticate(credential);
      } catch (err) {
        if (!(err instanceof InvalidToken)) throw err;
        // guesses draw on the address's bucket
        await limit(`ip:${address}`, reply);
        throw unauthorized(err.message, 'invalid_token');
      }
    }
    const swagger = route?.startsWith('/swagger') ?? false;
    const need: Scope | 'any' | null =
      req.routeOptions.config.scope ?? (swagger && !o.swaggerPublic ? 'any' : null);
    if (need !== null && principal === null) {
      // anonymous access: a DNS name that is not this service's (allowedHosts) may be a rebinding page's
      const hostOk = anonymousHostOk(host, allowedHosts);
      if (o.auth.mode === 'none') {
        if (!hostOk) {
          throw new AppError(
            'HOST_NOT_ALLOWED',
            `Host ${JSON.stringify(host)} is refused: with api.auth none, a request naming the service by a DNS name needs that name in api.allowedHosts (DNS rebinding); IP addresses and localhost are accepted`,
          );
        }
        principal = anonymous(address);
      } else if (o.auth.mode === 'protected' && !o.auth.credentialsExist()) {
        if (!isLoopbackAddress(address) || !hostOk) {
          throw new AppError(
            'PROTECTED_MODE',
            'no credentials are configured, so only loopback clients are answered: create an API key (message-scheduler keys create --name NAME --scopes ...), configure OAuth2 (auth.jwt.jwksUrl, issuer, audience), or set api.auth: none (unsafe: no authentication)',
          );
        }
        principal = anonymous(address);
      } else throw unauthorized('this operation needs credentials: Authorization: Bearer <API key or token>');
    }
    if (need !== null && need !== 'any' && principal !== null && !principal.scopes.has(need)) {
      throw new AppError('INSUFFICIENT_SCOPE', `this operation needs the scope ${need}`, undefined, {
        'www-authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${need}"`,
      });
    }
    req.principal = principal;
    await limit(principal?.bucket ?? `ip:${address}`, reply);
  });
  // after routing and validation (a POST to a path that is not a resource is still 404/405), before
  // any handler: a state change a cross-site page could have made is refused
  app.addHook('preHandler', async (req) => {
    if (SAFE_METHODS.has(req.method)) return;
    const route = req.routeOptions.url;
    if (route !== undefined && PROBE_ROUTES.has(route)) return;
    crossSite(
      req,
      (req.headers.host ?? '').toLowerCase(),
      req.headers.authorization !== undefined || req.headers['x-api-key'] !== undefined,
    );
  });
}

/** What the logs name as the actor of a control action: never the credential. */
export function actorOf(req: FastifyRequest): { actor: string; actor_kind: string } {
  const p = req.principal;
  return p
    ? {
        actor: p.kind === 'anonymous' ? `anonymous (${req.socket.remoteAddress ?? '?'})` : p.name,
        actor_kind: p.kind,
      }
    : { actor: 'unknown', actor_kind: 'none' };
}
