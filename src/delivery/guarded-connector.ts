/**
 * undici's connector with the URL-safety check (http/address-policy.ts) where it cannot be dodged:
 * on the addresses the connection is actually made to. A name is resolved once, its denied
 * addresses dropped, and the socket connects to one of the rest; an address literal is checked
 * before connecting. So a name that resolves to a metadata address, or is changed to one after the
 * destination was checked (DNS rebinding), is refused, and redirects are never followed.
 */
import { lookup as dnsLookup, type LookupAddress, type LookupAllOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { buildConnector } from 'undici';
import { AddressDeniedError, type AddressPolicy } from '../http/address-policy.js';
import { interimSkippingConnector } from './interim-responses.js';

/** dns.lookup without the denied addresses; fails with EADDRDENIED when none is left. */
export function guardedLookup(policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    const all: LookupAllOptions = { ...options, all: true };
    dnsLookup(hostname, all, (err, addresses: LookupAddress[]) => {
      if (err) return callback(err, '', 0);
      const denied: { address: string; entry: string }[] = [];
      const allowed = addresses.filter((a) => {
        const entry = policy.deniedBy(a.address);
        if (entry) denied.push({ address: a.address, entry });
        return entry === null;
      });
      const first = allowed[0];
      if (!first) return callback(new AddressDeniedError(hostname, denied), '', 0);
      if (options.all) (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, allowed);
      else callback(null, first.address, first.family);
    });
  };
}

/** The connector of the routed client: interim answers skipped, denied addresses refused. */
export function guardedConnector(
  policy: AddressPolicy,
  options: buildConnector.BuildOptions,
): buildConnector.connector {
  const connect = interimSkippingConnector({ ...options, lookup: guardedLookup(policy) });
  return (opts, callback) => {
    const host = opts.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) !== 0) {
      const entry = policy.deniedBy(host);
      if (entry) {
        callback(new AddressDeniedError(host, [{ address: host, entry }]), null);
        return;
      }
    }
    connect(opts, callback);
  };
}
