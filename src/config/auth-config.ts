import { isScope, type Scope } from '../domain/scopes.js';
import { ConfigError } from './config-error.js';
import type { ChoiceOf, Lookups } from './keys.js';

export type AuthMode = ChoiceOf<'api.auth'>;

/** An API key given in the config as its hash (`auth.apiKeys`). */
export interface ConfiguredKey {
  name: string;
  scopes: Scope[];
  /** SHA-256 of the key, 32 bytes */
  hash: Buffer;
}

export interface JwtConfig {
  jwksUrl: string;
  issuer: string;
  audience: string;
  algorithms: string[];
  clockToleranceMs: number;
  jwksCooldownMs: number;
  jwksMaxAgeMs: number;
  /** longest accepted token life, iat (or now) to exp; 0: no bound */
  maxTokenLifetimeMs: number;
  tokenUrl: string;
}

export interface AuthConfig {
  mode: AuthMode;
  keys: ConfiguredKey[];
  /** longest life of a key made over HTTP (0: no bound) */
  keyMaxLifetimeMs: number;
  keyRefreshMs: number;
  swaggerPublic: boolean;
  /** null: OAuth2 tokens are not accepted */
  jwt: JwtConfig | null;
}

export const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** `NAME;SCOPES;sha256:HEX`, as `message-scheduler keys hash` prints it. */
export function parseConfiguredKey(item: string, index: number): ConfiguredKey {
  const bad = (expected: string): never => {
    throw new ConfigError(
      `config: auth.apiKeys (env AUTH_API_KEYS) item ${index + 1} (value not shown: it may be a key pasted where its hash belongs) is invalid: expected ${expected}`,
    );
  };
  const parts = item.split(';');
  if (parts.length !== 3) bad('NAME;SCOPES;sha256:HEX (three parts separated by ;)');
  const [name = '', scopeText = '', hashText = ''] = parts;
  if (!KEY_NAME.test(name)) bad('a NAME of letters, digits, ".", "_" or "-" (at most 64)');
  const scopes = scopeText.split(',').filter((x) => x !== '');
  if (scopes.length === 0) bad('at least one scope');
  const unknown = scopes.find((x) => !isScope(x));
  if (unknown !== undefined)
    bad(`scopes from messages:read, messages:write, pool:control, admin (not ${unknown})`);
  const m = /^sha256:([0-9a-f]{64})$/i.exec(hashText);
  if (!m?.[1]) bad('sha256: followed by 64 hex digits');
  return { name, scopes: scopes as Scope[], hash: Buffer.from(m?.[1] ?? '', 'hex') };
}

/** `https://*.example.com[:8443]`: any subdomain (one label or more) of a domain, never the domain itself. */
export const ORIGIN_PATTERN = /^(https?):\/\/\*\.((?:[a-z0-9-]+\.)+[a-z0-9-]+)(:\d{1,5})?$/i;

/**
 * Origins as browsers send them: scheme://host[:port], nothing else; or a subdomain pattern
 * (ORIGIN_PATTERN). Any other `*` is refused: `https://*.example` was taken as a literal origin
 * that never matches.
 */
export function corsOrigins(items: string[]): string[] {
  return items.map((o) => {
    if (o.includes('*')) {
      if (ORIGIN_PATTERN.test(o)) return o.toLowerCase();
      throw new ConfigError(
        `config: api.cors.origins (env API_CORS_ORIGINS) item ${JSON.stringify(o)} is invalid: expected an origin (https://app.example.com) or a subdomain pattern (https://*.example.com); no other wildcard is supported`,
      );
    }
    let u: URL | null = null;
    try {
      u = new URL(o);
    } catch {
      // reported below
    }
    if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:') || u.origin !== o.replace(/\/$/, '')) {
      throw new ConfigError(
        `config: api.cors.origins (env API_CORS_ORIGINS) item ${JSON.stringify(o)} is invalid: expected an origin such as https://app.example.com (scheme, host and port only)`,
      );
    }
    return u.origin;
  });
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * The JWKS decides whose tokens are accepted: fetched over plain HTTP, anyone on the path could
 * publish their own keys. `https://`, or `http://` on a loopback host when explicitly allowed.
 * The URL itself is never shown in the error (it may carry credentials).
 */
function checkJwksUrl(url: string, allowHttpLoopback: boolean): void {
  const u = new URL(url);
  if (u.protocol === 'https:') return;
  if (allowHttpLoopback && LOOPBACK_HOSTS.test(u.hostname)) return;
  throw new ConfigError(
    LOOPBACK_HOSTS.test(u.hostname)
      ? 'config: auth.jwt.jwksUrl (env AUTH_JWT_JWKS_URL) is invalid: expected an https:// URL; an http:// URL on a loopback host needs auth.jwt.allowHttpLoopback: true'
      : 'config: auth.jwt.jwksUrl (env AUTH_JWT_JWKS_URL) is invalid: expected an https:// URL (plain http is accepted only on a loopback host, with auth.jwt.allowHttpLoopback)',
  );
}

export function authConfig({ str, list, num, bool, choice }: Lookups): AuthConfig {
  const keys = list('auth.apiKeys').map(parseConfiguredKey);
  const jwksUrl = str('auth.jwt.jwksUrl');
  let jwt: JwtConfig | null = null;
  if (jwksUrl !== '') {
    for (const k of ['auth.jwt.issuer', 'auth.jwt.audience'] as const) {
      if (str(k) === '') {
        throw new ConfigError(
          `config: ${k} = "" is invalid: expected a value when auth.jwt.jwksUrl is set (tokens are checked against it)`,
        );
      }
    }
    checkJwksUrl(jwksUrl, bool('auth.jwt.allowHttpLoopback'));
    const algorithms = list('auth.jwt.algorithms');
    if (algorithms.length === 0) {
      throw new ConfigError('config: auth.jwt.algorithms = [] is invalid: expected at least one algorithm');
    }
    jwt = {
      jwksUrl,
      issuer: str('auth.jwt.issuer'),
      audience: str('auth.jwt.audience'),
      algorithms,
      clockToleranceMs: num('auth.jwt.clockTolerance'),
      jwksCooldownMs: num('auth.jwt.jwksCooldown'),
      jwksMaxAgeMs: num('auth.jwt.jwksMaxAge'),
      maxTokenLifetimeMs: num('auth.jwt.maxTokenLifetime'),
      tokenUrl: str('auth.jwt.tokenUrl'),
    };
  }
  return {
    mode: choice('api.auth'),
    keys,
    keyMaxLifetimeMs: num('auth.apiKeyMaxLifetime'),
    keyRefreshMs: num('auth.keyRefreshInterval'),
    swaggerPublic: bool('auth.swaggerPublic'),
    jwt,
  };
}
