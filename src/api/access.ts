import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/codes.js';
import { anonymous, InvalidToken, type Authenticator } from '../auth/authenticator.js';
import type { Principal, Scope } from '../domain/scopes.js';
import type { ApiLimiter } from '../ratelimit/api-limiter.js';
import { bucketKey, isLoopbackAddress } from '../http/client-address.js';
import { ORIGIN_PATTERN } from '../config/auth-config.js';
import fp from 'fastify-plugin';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** the scope an operation needs (`any`: credentials with any scope); none: public */
    scope?: Scope | 'any';
    /**
     * The operation answers without credentials too, with no principal, where it would otherwise be
     * 401 or protected mode's 403 (GET /me: the dashboard asks whether it must ask for a key, and a
     * refusal would be an error in the browser's console). A credential that is given is checked.
     */
    credentialOptional?: boolean;
    /** tokens of the client's bucket the request costs (default 1): a large page costs more */
    cost?: (req: FastifyRequest) => number;
  }
  interface FastifyRequest {
    /** who sent the request (null: a public route reached without credentials) */
    principal: Principal | null;
    /** where it came from: the peer, or the client a trusted proxy names (clientAddressOf) */
    client: ClientAddress;
  }
}

/** A request's client: its address, and whether it is local (loopback, not forwarded from elsewhere). */
export interface ClientAddress {
  address: string;
  local: boolean;
}

/** Whether an address is a proxy the operator trusts (`api.trustProxy`), compiled by proxy-addr. */
export type TrustProxy = (address: string, hop: number) => boolean;

export interface AccessOptions {
  auth: Authenticator;
  swaggerPublic: boolean;
  /** accepted Host values, lower case; empty: any */
  allowedHosts: readonly string[];
  /** browser origins allowed to make state-changing requests (and CORS) */
  corsOrigins: readonly string[];
  /** the per-client token buckets (apiRateLimiter.*); null: off */
  limiter: ApiLimiter | null;
  /** the proxies whose X-Forwarded-For is believed (`api.trustProxy`); null: none */
  trustProxy: TrustProxy | null;
}

/** Never authenticated, never rate limited, any Host: what load balancers and orchestrators probe. */
export const PROBE_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
/** The Host names a loopback client may use anonymously in protected mode (and api.allowedHosts). */
const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);
/** Headers by which a proxy says whom it forwards for: a request carrying any is never local by itself. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REALM = 'realm="message-scheduler"';

/** `[::1]:3000` → `[::1]`, `Example.com:80` → `example.com` */
export function hostName(host: string): string {
  const h = host.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const i = h.lastIndexOf(':');
  return i >= 0 ? h.slice(0, i) : h;
}

export { isLoopbackAddress };

/**
 * Who sent a request (docs/decisions.md, "Behind a proxy"). A request that carries a forwarding
 * header (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) came through a proxy: behind a same-host
 * proxy (`proxy_pass http://127.0.0.1:3000`) every remote client's peer address is loopback, so
 * such a request is never local unless its peer is a trusted proxy (`api.trustProxy`) that names
 * the client in X-Forwarded-For; then that client's address decides (proxy-addr: the nearest
 * address not itself a trusted proxy).
 */
export function clientAddressOf(req: FastifyRequest, trust: TrustProxy | null): ClientAddress {
  const peer = req.socket.remoteAddress ?? '';
  const forwarded = FORWARDING_HEADERS.some((h) => req.headers[h] !== undefined);
  if (!forwarded) return { address: peer, local: isLoopbackAddress(peer) };
  if (trust === null || !trust(peer, 0) || req.headers['x-forwarded-for'] === undefined) {
    return { address: peer, local: false };
  }
  // Fastify computes req.ip with the same trust function (server.ts passes it as trustProxy)
  const address = req.ip;
  return { address, local: isLoopbackAddress(address) };
}

/** How many Host headers a request carries (Node keeps the first and drops the others). */
function hostHeaders(req: FastifyRequest): number {
  const raw = req.raw.rawHeaders;
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]?.toLowerCase() === 'host') n++;
  return n;
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
  if (typeof key === 'string' && key !== '') {
    // API keys only: a JWT here would be a second, undocumented way to send tokens, one that
    // proxies and log scrubbers (which look for tokens in Authorization) do not know to hide
    if (!key.startsWith('ms_')) {
      throw unauthorized(
        'X-API-Key takes API keys (ms_...); send OAuth2 tokens as Authorization: Bearer',
        'invalid_request',
      );
    }
    return key;
  }
  return null;
}

/**
 * A Host an anonymous request may name. In protected mode: a loopback name (`localhost`,
 * `127.0.0.1`, `[::1]`) or an `api.allowedHosts` entry, as docs/security.md says; any other name, IP
 * literals such as `0.0.0.0` or `8.8.8.8` included, is not this loopback service. With `api.auth:
 * none` (`ipLiterals`), IP literals are accepted too: a DNS-rebinding page names the attacker's
 * domain, never an address.
 */
export function anonymousHostOk(host: string, allowed: ReadonlySet<string>, ipLiterals = false): boolean {
  const name = hostName(host);
  return (
    LOOPBACK_NAMES.has(name) ||
    (ipLiterals && (/^\d{1,3}(\.\d{1,3}){3}$/.test(name) || /^\[[0-9a-f:.]+\]$/.test(name))) ||
    allowed.has(host) ||
    allowed.has(name)
  );
}

/**
 * Whether a browser origin is one of `api.cors.origins`: an exact origin, or matched by a
 * subdomain pattern (`https://*.example.com`: one label or more, not the domain itself).
 */
export function originMatcher(configured: readonly string[]): (origin: string) => boolean {
  const exact = new Set(configured.filter((o) => !o.includes('*')));
  const patterns = configured
    .map((o) => ORIGIN_PATTERN.exec(o))
    .flatMap((m) =>
      m
        ? [new RegExp(`^${m[1]}://([a-z0-9-]+\\.)+${(m[2] ?? '').replace(/[.]/g, '\\.')}${m[3] ?? ''}$`, 'i')]
        : [],
    );
  return (origin) => exact.has(origin) || patterns.some((p) => p.test(origin));
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
  const allowedOrigin = originMatcher(o.corsOrigins);
  /** The client's bucket (ratelimit/api-limiter.ts): headers on every answer, 429 when empty. */
  async function limit(bucket: string, reply: FastifyReply, cost: number): Promise<void> {
    if (!o.limiter) return;
    const { headers, refused } = await o.limiter.take(bucket, cost);
    void reply.headers(headers);
    if (refused) {
      throw new AppError('RATE_LIMITED', refused.message, undefined, {
        'retry-after': String(refused.retryAfterS),
      });
    }
  }

  function crossSite(req: FastifyRequest, host: string, hasCredential: boolean): void {
    const origin = req.headers.origin;
    const fetchSite = req.headers['sec-fetch-site'];
    const fromElsewhere =
      origin !== undefined
        ? !allowedOrigin(origin) && !sameOrigin(origin, host)
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
  app.decorateRequest('client', null as unknown as ClientAddress);
  app.addHook('onRequest', async (req, reply) => {
    // RFC 9112 §3.2: a request with more than one Host header is answered 400, whatever its route
    if (hostHeaders(req) > 1) {
      throw new AppError('BAD_REQUEST', 'the request has more than one Host header (RFC 9112 §3.2)');
    }
    req.client = clientAddressOf(req, o.trustProxy);
    const route = req.routeOptions.url;
    if (route !== undefined && PROBE_ROUTES.has(route)) return;
    const host = (req.headers.host ?? '').toLowerCase();
    if (allowedHosts.size > 0 && !allowedHosts.has(host) && !allowedHosts.has(hostName(host))) {
      throw new AppError('HOST_NOT_ALLOWED', `Host ${JSON.stringify(host)} is not in api.allowedHosts`);
    }
    const { address, local } = req.client;
    // the credential first, its refusal after the bucket: every answer, a 401 too, costs a token
    let refusal: AppError | null = null;
    let principal: Principal | null = null;
    try {
      const credential = credentialOf(req);
      if (credential !== null) principal = await o.auth.authenticate(credential);
    } catch (err) {
      if (err instanceof InvalidToken) refusal = unauthorized(err.message, 'invalid_token');
      else if (err instanceof AppError) refusal = err;
      else throw err;
    }
    // a route that is not there (404, 405) draws on the bucket like any other
    const cost = req.routeOptions.config?.cost?.(req) ?? 1;
    await limit(principal?.bucket ?? `ip:${bucketKey(address)}`, reply, cost);
    if (refusal) throw refusal;
    const swagger = route?.startsWith('/swagger') ?? false;
    const need: Scope | 'any' | null =
      req.routeOptions.config?.scope ?? (swagger && !o.swaggerPublic ? 'any' : null);
    const optional = req.routeOptions.config?.credentialOptional === true;
    if (need !== null && principal === null) {
      if (o.auth.mode === 'none') {
        // a DNS name that is not this service's (allowedHosts) may be a rebinding page's
        if (!anonymousHostOk(host, allowedHosts, true)) {
          throw new AppError(
            'HOST_NOT_ALLOWED',
            `Host ${JSON.stringify(host)} is refused: with api.auth none, a request naming the service by a DNS name needs that name in api.allowedHosts (DNS rebinding); IP addresses and localhost are accepted`,
          );
        }
        principal = anonymous(address);
      } else if (o.auth.mode === 'protected' && !o.auth.credentialsExist()) {
        const loopback = local && anonymousHostOk(host, allowedHosts);
        // an operation whose credentials are optional goes on with no principal instead
        if (!loopback && !optional) {
          throw new AppError(
            'PROTECTED_MODE',
            local
              ? `no credentials are configured, so only loopback clients that name the service localhost, 127.0.0.1 or [::1] (or an api.allowedHosts name) are answered; Host ${JSON.stringify(host)} is none of them`
              : `no credentials are configured (protected mode, api.auth / API_AUTH = protected), so only loopback clients are answered, and this request came from ${address} (a port published by Docker is reached from its bridge, a proxy from its own address: neither is loopback unless api.trustProxy names the proxy). Create an API key (message-scheduler keys create --name NAME --scopes ...), configure OAuth2 (auth.jwt.jwksUrl, issuer, audience), or set API_AUTH=none (no authentication: only with the port published on 127.0.0.1, as this project's docker-compose.yml does)`,
          );
        }
        if (loopback) principal = anonymous(address);
      } else if (!optional) {
        throw unauthorized('this operation needs credentials: Authorization: Bearer <API key or token>');
      }
    }
    if (need !== null && need !== 'any' && principal !== null && !principal.scopes.has(need)) {
      throw new AppError('INSUFFICIENT_SCOPE', `this operation needs the scope ${need}`, undefined, {
        'www-authenticate': `Bearer ${REALM}, error="insufficient_scope", scope="${need}"`,
      });
    }
    req.principal = principal;
    passed.add(req);
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

/** Requests that passed the access checks (the error handler answers 404/405 only for those). */
const passed = new WeakSet<FastifyRequest>();

/**
 * Whether a request passed the access checks. One refused by them (a 429, a 401, a duplicate
 * Host) keeps that answer even on a path that is not there; a later error on such a path (its
 * body) is a 404 or 405.
 */
export function passedAccess(req: FastifyRequest): boolean {
  return passed.has(req);
}

/** What the logs name as the actor of a control action: never the credential. */
export function actorOf(req: FastifyRequest): { actor: string; actor_kind: string } {
  const p = req.principal;
  return p
    ? {
        actor: p.kind === 'anonymous' ? `anonymous (${req.client?.address ?? '?'})` : p.name,
        actor_kind: p.kind,
      }
    : { actor: 'unknown', actor_kind: 'none' };
}

/**
 * Whose request this is, for the limits that count per client (the request gate): its
 * credential's bucket, else its address's (loopback addresses as one, IPv6 by /64).
 */
export function clientOf(req: FastifyRequest): string {
  return req.principal?.bucket ?? `ip:${bucketKey(req.client?.address ?? req.socket.remoteAddress ?? '')}`;
}

/** Access control as a plugin of the root instance; its options are the API's access settings. */
export const accessControl = fp<AccessOptions>(async (app, o) => installAccess(app, o), {
  name: 'access-control',
  fastify: '5.x',
  dependencies: ['error-handling'],
});
