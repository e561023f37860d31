/**
 * Which network addresses the service may connect to when it delivers to a destination made over
 * the API (docs/decisions.md, "URL safety"): a deny list of address ranges, checked on the
 * addresses a name resolves to, when the connection is made. Ranges come by name (the groups
 * below) or as CIDRs; node:net's BlockList does the matching.
 */
import { BlockList, isIP } from 'node:net';
import { ADDRESS_GROUPS, parseRange, type AddressGroup } from '../domain/address-ranges.js';

const family = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/**
 * The IPv4 address an IPv6 address carries in its last 32 bits, when it is one of the forms that
 * reach that IPv4 host: IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (`64:ff9b::/96`) and the old
 * IPv4-compatible `::a.b.c.d`; else null. Each is checked as the IPv4 address too.
 */
function embeddedIpv4(address: string): string | null {
  const dotted = /^(?:::ffff:|64:ff9b::|::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (dotted?.[1]) return dotted[1];
  const hex = /^(?:::ffff:|64:ff9b::|::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex?.[1] || !hex[2]) return null;
  const hi = parseInt(hex[1], 16);
  const lo = parseInt(hex[2], 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

export class AddressPolicy {
  private readonly blocks = new BlockList();
  /** each range with the entry that brought it, to say why an address is refused */
  private readonly rules: { entry: string; list: BlockList }[] = [];

  constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const ranges: readonly string[] = Object.hasOwn(ADDRESS_GROUPS, entry)
        ? ADDRESS_GROUPS[entry as AddressGroup]
        : [entry];
      const list = new BlockList();
      for (const r of ranges) {
        const range = parseRange(r);
        if (!range) throw new Error(`not an address range: ${r}`);
        const f = family(range.address);
        list.addSubnet(range.address, range.prefix, f);
        this.blocks.addSubnet(range.address, range.prefix, f);
      }
      this.rules.push({ entry, list });
    }
  }

  /** The entry that denies `address` (an IP), or null when it may be connected to. */
  deniedBy(address: string): string | null {
    if (isIP(address) === 0) return null;
    const v4 = isIP(address) === 6 ? embeddedIpv4(address) : null;
    for (const a of v4 ? [address, v4] : [address]) {
      const f = family(a);
      if (!this.blocks.check(a, f)) continue;
      return this.rules.find((r) => r.list.check(a, f))?.entry ?? 'destinations.denyAddresses';
    }
    return null;
  }

  /** The entry that denies a URL's host when the host is an address literal (no DNS needed); else null. */
  deniedLiteral(url: URL): { address: string; entry: string } | null {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) === 0) return null;
    const entry = this.deniedBy(host);
    return entry ? { address: host, entry } : null;
  }
}

/** The code of the error a refused connection fails with (recorded in the attempt). */
export const ADDRESS_DENIED = 'EADDRDENIED';

export class AddressDeniedError extends Error {
  readonly code = ADDRESS_DENIED;
  constructor(host: string, denied: { address: string; entry: string }[]) {
    super(
      `${host} resolves only to denied addresses (${denied.map((d) => `${d.address}: ${d.entry}`).join(', ')}; destinations.denyAddresses)`,
    );
  }
}
