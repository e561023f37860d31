import type { AuthMode } from '../config/auth-config.js';
import type { KeyRegistry } from './api-keys.js';
import { InvalidToken, type JwtVerifier } from './jwt.js';
import { SCOPE_NAMES, type Principal } from '../domain/scopes.js';
import { bucketKey } from '../http/client-address.js';

export { InvalidToken };

/** Every scope: a loopback client in protected mode before any credential exists, or `api.auth: none`. */
export function anonymous(address: string): Principal {
  return {
    kind: 'anonymous',
    name: 'anonymous',
    scopes: new Set(SCOPE_NAMES),
    // loopback addresses as one client, IPv6 by /64: a client cannot take a fresh bucket per address
    bucket: `ip:${bucketKey(address)}`,
  };
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

  /**
   * Whether protected mode has ended: a credential exists or has existed (OAuth2 configured, or
   * any API key ever, revoked ones too). Revoking every key keeps the API closed.
   */
  credentialsExist(): boolean {
    return this.jwt !== null || this.keys.everExisted();
  }

  get oauth2(): boolean {
    return this.jwt !== null;
  }

  async authenticate(credential: string): Promise<Principal> {
    if (credential.startsWith('ms_')) {
      const p = this.keys.lookup(credential);
      if (!p) throw new InvalidToken('the API key is unknown, revoked or expired');
      return p;
    }
    if (!this.jwt) throw new InvalidToken('not an API key (ms_...), and OAuth2 tokens are not configured');
    return this.jwt.verify(credential);
  }
}
