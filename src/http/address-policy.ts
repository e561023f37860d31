/**
 * Which network addresses the service may connect to when it delivers to a destination made over
 * the API (docs/decisions.md, "URL safety"): a deny list of address ranges, checked on the
 * addresses a name resolves to, when the connection is made. Ranges come by name (the groups
 * below) or as CIDRs; node:net's BlockList does the matching.
 */
import { BlockList, isIP } from 'node:net';
import { ADDRESS_GROUPS, parseRange, type AddressGroup } from '../domain/address-ranges.js';

const family = (address: string): 'ipv4' | 'ipv6' => (isIP(address) === 6 ? 'ipv6' : 'ipv4');

/** `a.b.c.d` for an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`), else the address as given. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
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
    const a = unmapped(address);
    if (isIP(a) === 0) return null;
    const f = family(a);
    if (!this.blocks.check(a, f)) return null;
    return this.rules.find((r) => r.list.check(a, f))?.entry ?? 'destinations.denyAddresses';
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
