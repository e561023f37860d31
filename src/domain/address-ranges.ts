/**
 * Named address ranges and the entries of the destinations' deny list (destinations.denyAddresses):
 * a group name or a CIDR. The config checks entries with this; http/address-policy.ts matches them.
 */
import { isIP } from 'node:net';

/** Named ranges an operator can deny (destinations.denyAddresses). */
export const ADDRESS_GROUPS = {
  unspecified: ['0.0.0.0/8', '::/128'],
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', 'fc00::/7'],
  'link-local': ['169.254.0.0/16', 'fe80::/10'],
  /** cloud instance metadata services: AWS, GCP, Azure, OpenStack (169.254.169.254), Alibaba, AWS IPv6 */
  metadata: ['169.254.169.254/32', '100.100.100.200/32', 'fd00:ec2::254/128'],
  multicast: ['224.0.0.0/4', 'ff00::/8'],
  reserved: ['240.0.0.0/4', '192.0.0.0/24', '198.18.0.0/15'],
} as const satisfies Record<string, readonly string[]>;

export type AddressGroup = keyof typeof ADDRESS_GROUPS;

/** Parses `a.b.c.d/n`, `x::y/n` or a bare address; null when it is neither. */
export function parseRange(entry: string): { address: string; prefix: number } | null {
  const [address = '', bits] = entry.split('/');
  const kind = isIP(address);
  if (kind === 0) return null;
  const max = kind === 4 ? 32 : 128;
  if (bits === undefined) return { address, prefix: max };
  if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) return null;
  return { address, prefix: Number(bits) };
}

/** An entry of the deny list that is neither a group name nor an address range; null when valid. */
export function addressEntryProblem(entry: string): string | null {
  if (Object.hasOwn(ADDRESS_GROUPS, entry)) return null;
  if (parseRange(entry)) return null;
  return `expected one of ${Object.keys(ADDRESS_GROUPS).join(', ')}, or an address range such as 10.0.0.0/8`;
}
