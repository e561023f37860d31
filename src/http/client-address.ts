import { isIP } from 'node:net';

/**
 * Who a client is, by address, for the limits that count per client (connections, the API's
 * token buckets). An IPv6 client usually owns a whole /64 and can take a new address for each
 * connection, so IPv6 addresses count by their /64; an IPv4-mapped IPv6 address counts as its
 * IPv4 address. docs/decisions.md, "Clients by address".
 */

/** `::ffff:192.0.2.1` → `192.0.2.1`; a zone (`fe80::1%eth0`) dropped; anything else as it is. */
export function plainAddress(address: string): string {
  const a = address.trim().toLowerCase();
  const zone = a.indexOf('%');
  const bare = zone >= 0 ? a.slice(0, zone) : a;
  if (bare.startsWith('::ffff:') && isIP(bare.slice(7)) === 4) return bare.slice(7);
  return bare;
}

/** The eight 16-bit groups of an IPv6 address; null when it is not one. */
export function ipv6Groups(address: string): number[] | null {
  if (isIP(address) !== 6) return null;
  let text = address;
  // a trailing dotted IPv4 part is two groups
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(fill).fill('0'), ...right].map((g) => parseInt(g, 16));
  return groups.length === 8 && groups.every((g) => Number.isInteger(g)) ? groups : null;
}

/** The client an address belongs to: the IPv4 address itself, or the IPv6 /64 (`2001:db8:1:2::/64`). */
export function clientKey(address: string): string {
  const a = plainAddress(address);
  const groups = ipv6Groups(a);
  if (!groups) return a;
  return `${groups
    .slice(0, 4)
    .map((g) => g.toString(16))
    .join(':')}::/64`;
}

/** 127.0.0.0/8, ::1 and their IPv4-mapped forms. */
export function isLoopbackAddress(address: string): boolean {
  const a = plainAddress(address);
  return a === '::1' || (isIP(a) === 4 && a.startsWith('127.'));
}

/**
 * The API's token bucket of an anonymous client: its clientKey, except that every loopback
 * address is one client (a local process can pick any of 127.0.0.0/8).
 */
export function bucketKey(address: string): string {
  return isLoopbackAddress(address) ? 'loopback' : clientKey(address);
}
