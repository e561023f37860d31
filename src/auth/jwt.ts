import {
  createRemoteJWKSet,
  customFetch,
  errors,
  jwtVerify,
  type FetchImplementation,
  type JWTPayload,
  type JSONWebKeySet,
} from 'jose';
import type { JwtConfig } from '../config/auth-config.js';
import type { Logger } from '../logging/logger.js';
import { isScope, type Principal, type Scope } from '../domain/scopes.js';

/** A token that does not let its bearer in; the description goes into WWW-Authenticate (RFC 6750). */
export class InvalidToken extends Error {
  override name = 'InvalidToken';
}

const JWKS_TIMEOUT_MS = 3000;
/**
 * The most of a JWKS response that is read. A key set is a few kilobytes (a dozen RSA keys are
 * about 10 KB); an endless body was read for the whole timeout and took the service from 122 to
 * 420 MB of memory.
 */
export const MAX_JWKS_BYTES = 256 * 1024;
/** A token checked once is trusted for at most this long, jwksMaxAge if shorter (or until it expires). */
const VERIFIED_TTL_MS = 60_000;
const VERIFIED_MAX = 10_000;
/** `typ` values of an access token: none, a plain JWT, or RFC 9068's `at+jwt`. */
const ACCESS_TOKEN_TYPES = new Set(['jwt', 'at+jwt', 'application/at+jwt']);

/** The body of a JWKS response, read up to MAX_JWKS_BYTES; more is refused, not read on. */
async function boundedJson(res: Response): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (declared > MAX_JWKS_BYTES) {
    await res.body?.cancel();
    throw new Error(`the JWKS is ${declared} bytes, more than ${MAX_JWKS_BYTES}`);
  }
  const reader = res.body?.getReader();
  if (!reader) return null;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel();
      throw new Error(`the JWKS is larger than ${MAX_JWKS_BYTES} bytes: not read on`);
    }
    chunks.push(value);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

/**
 * The JWKS of the authorization server, through jose's remote key set (cached,
 * fetched again on an unknown `kid` at most once per cooldown) with one
 * difference: when the endpoint fails, the keys last fetched are served again,
 * so tokens signed with known keys keep working through an outage, while a
 * new `kid` is refused (fail closed). Before any fetch has worked, a failure
 * is not retried more than once per cooldown.
 */
export function jwksFetcher(
  url: string,
  cooldownMs: number,
  logger: Logger,
  now: () => number = Date.now,
): FetchImplementation {
  let last: JSONWebKeySet | null = null;
  let failedAt = -Infinity;
  let failing = false;
  return async (resource, options) => {
    if (last === null && now() - failedAt < cooldownMs) {
      throw new Error('the JWKS endpoint failed moments ago; not asked again before the cooldown');
    }
    try {
      const res = await fetch(resource, options);
      if (res.status !== 200) {
        await res.body?.cancel();
        throw new Error(`HTTP ${res.status}`);
      }
      const json = (await boundedJson(res)) as JSONWebKeySet;
      if (!json || !Array.isArray(json.keys)) throw new Error('not a JSON Web Key Set');
      last = json;
      if (failing) logger.info({ url }, 'the JWKS endpoint answers again');
      failing = false;
      return Response.json(json);
    } catch (err) {
      failedAt = now();
      if (!failing) {
        logger.warn(
          { url, err: (err as Error).message, cachedKeys: last?.keys.length ?? 0 },
          'cannot fetch the JWKS: the keys fetched before stay in use; new kids are refused',
        );
      }
      failing = true;
      if (last === null) throw err;
      return Response.json(last);
    }
  };
}

function scopesOf(payload: JWTPayload): Scope[] {
  const raw = payload.scope ?? payload.scp;
  const items = typeof raw === 'string' ? raw.split(' ') : Array.isArray(raw) ? raw : [];
  return items.filter((s): s is Scope => typeof s === 'string' && isScope(s));
}

/** Checks OAuth2 JWT access tokens with jose: signature, iss, aud, exp/nbf, an algorithm allow-list. */
export class JwtVerifier {
  private readonly keys: ReturnType<typeof createRemoteJWKSet>;
  /**
   * Tokens already checked, until they expire or for a minute (jwksMaxAge if shorter): an RS256
   * check costs about a third of a cheap request (bench access). The key set itself is fetched
   * again after jwksMaxAge, so a key withdrawn from the JWKS is refused within jwksMaxAge for new
   * and already-checked tokens alike; every other check (exp included) holds as if the token were
   * checked again.
   */
  private readonly verified = new Map<string, { principal: Principal; until: number }>();
  private readonly verifiedTtlMs: number;

  constructor(
    private readonly config: JwtConfig,
    logger: Logger,
  ) {
    this.verifiedTtlMs = Math.min(VERIFIED_TTL_MS, config.jwksMaxAgeMs);
    this.keys = createRemoteJWKSet(new URL(config.jwksUrl), {
      cooldownDuration: config.jwksCooldownMs,
      cacheMaxAge: config.jwksMaxAgeMs,
      timeoutDuration: JWKS_TIMEOUT_MS,
      [customFetch]: jwksFetcher(config.jwksUrl, config.jwksCooldownMs, logger),
    });
  }

  async verify(token: string, now = Date.now()): Promise<Principal> {
    const hit = this.verified.get(token);
    if (hit && hit.until > now) return hit.principal;
    if (hit) this.verified.delete(token);
    const principal = await this.check(token, now);
    if (this.verified.size >= VERIFIED_MAX) {
      for (const [t, v] of this.verified) if (v.until <= now) this.verified.delete(t);
      // still full: the oldest entries go (a Map iterates in insertion order)
      for (const t of this.verified.keys()) {
        if (this.verified.size < VERIFIED_MAX) break;
        this.verified.delete(t);
      }
    }
    this.verified.set(token, {
      principal: principal.principal,
      until: Math.min(now + this.verifiedTtlMs, principal.exp * 1000),
    });
    return principal.principal;
  }

  private async check(token: string, nowMs: number): Promise<{ principal: Principal; exp: number }> {
    let payload: JWTPayload;
    let typ: unknown;
    try {
      ({
        payload,
        protectedHeader: { typ },
      } = await jwtVerify(token, this.keys, {
        issuer: this.config.issuer,
        audience: this.config.audience,
        algorithms: this.config.algorithms,
        clockTolerance: Math.round(this.config.clockToleranceMs / 1000),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new InvalidToken(describe(err));
    }
    this.checkShape(payload, typ, nowMs);
    const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
    const clientId = typeof payload.client_id === 'string' ? payload.client_id : undefined;
    const name = sub ?? clientId ?? 'unknown';
    return {
      principal: { kind: 'jwt', name, scopes: new Set(scopesOf(payload)), bucket: `jwt:${name}` },
      exp: typeof payload.exp === 'number' ? payload.exp : 0,
    };
  }

  /**
   * What jose does not check (docs/decisions.md, "OAuth2 tokens"): the token is an access token
   * (`typ` none, `JWT` or `at+jwt`: not an ID token, a logout token or another JWT the issuer
   * signs), was not issued in the future, and lives at most auth.jwt.maxTokenLifetime (an `exp`
   * in 2999 made a token a permanent credential).
   */
  private checkShape(payload: JWTPayload, typ: unknown, nowMs: number): void {
    if (typ !== undefined && (typeof typ !== 'string' || !ACCESS_TOKEN_TYPES.has(typ.toLowerCase()))) {
      throw new InvalidToken(`the token's typ ${JSON.stringify(typ)} is not an access token (JWT or at+jwt)`);
    }
    const now = nowMs / 1000;
    const tolerance = this.config.clockToleranceMs / 1000;
    if (typeof payload.iat === 'number' && payload.iat > now + tolerance) {
      throw new InvalidToken('the token was issued in the future (iat)');
    }
    const max = this.config.maxTokenLifetimeMs / 1000;
    const exp = typeof payload.exp === 'number' ? payload.exp : Infinity;
    const from = typeof payload.iat === 'number' ? Math.min(payload.iat, now) : now;
    if (max > 0 && exp - from > max + tolerance) {
      throw new InvalidToken(
        `the token lives longer than auth.jwt.maxTokenLifetime allows (${Math.round(max)} s from its issue)`,
      );
    }
  }
}

/** What was wrong with a token, in words safe to send back (never the token). */
function describe(err: unknown): string {
  if (err instanceof errors.JWTExpired) return 'the token has expired';
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'the token is not valid yet';
    if (err.claim === 'iss') return 'the token has another issuer';
    if (err.claim === 'aud') return 'the token is for another audience';
    return `the token's ${err.claim} claim is not valid`;
  }
  if (err instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not allowed';
  if (err instanceof errors.JWKSNoMatchingKey)
    return 'the token is signed with a key the authorization server does not publish';
  if (err instanceof errors.JWSSignatureVerificationFailed) return 'the token signature is not valid';
  if (err instanceof errors.JWTInvalid || err instanceof errors.JWSInvalid)
    return 'the token is not a valid JWT';
  if (err instanceof errors.JOSENotSupported) return 'the token uses something this server does not support';
  return 'the token cannot be checked';
}
