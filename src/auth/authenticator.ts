import type { AuthMode } from '../config/auth-config.js';
import type { KeyRegistry } from './api-keys.js';
import { InvalidToken, type JwtVerifier } from './jwt.js';
import { SCOPE_NAMES, type Principal } from './scopes.js';

export { InvalidToken };

/** Every scope: a loopback client in protected mode before any credential exists, or `api.auth: none`. */
export function anonymous(address: string): Principal {
  return { kind: 'anonymous', name: 'anonymous', scopes: new Set(SCOPE_NAMES), bucket: `ip:${address}` };
}

/**
 * Turns a presented credential into a principal: an API key (`ms_...`) from the
 * registry, anything else as an OAuth2 JWT when `auth.jwt` is configured.
 */
export class Authenticator {
  constructor(
    readonly mode: AuthMode,
    readonly keys: KeyRegistry,
    private readonly jwt: JwtVerifier | null,
  ) {}

  /** Whether any credential exists that could let someone in (protected mode ends then). */
  credentialsExist(): boolean {
    return this.jwt !== null || this.keys.count() > 0;
  }

  get oauth2(): boolean {
    return this.jwt !== null;
  }

  async authenticate(credential: string): Promise<Principal> {
    if (credential.startsWith('ms_')) {
      const p = this.keys.lookup(credential);
      if (!p) throw new InvalidToken('the API key is unknown or revoked');
      return p;
    }
    if (!this.jwt) throw new InvalidToken('not an API key (ms_...), and OAuth2 tokens are not configured');
    return this.jwt.verify(credential);
  }
}
