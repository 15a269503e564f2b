import { BlockList, isIP } from 'node:net';
import { ConfigError } from '@portico/core';

/**
 * A set of IPv4/IPv6 networks (`deployment.admin.allow_admin`). Built on node's BlockList,
 * which also matches IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what a dual-stack
 * listener reports for an IPv4 client) against IPv4 networks.
 */
export class AddressSet {
  private constructor(private readonly list: BlockList, readonly size: number) {}

  /**
   * Entries are `addr/prefix` or a bare address (a single host). A bad entry is a start-up
   * error naming `setting`, never a silently ignored rule.
   */
  static parse(entries: readonly string[], setting: string): AddressSet {
    const list = new BlockList();
    for (const entry of entries) {
      const parsed = parseCidr(entry);
      if (!parsed) throw new ConfigError(`config.yaml: ${setting}: invalid IP address or CIDR "${entry}"`);
      list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
    return new AddressSet(list, entries.length);
  }

  has(address: string | undefined): boolean {
    if (!address) return false;
    const family = isIP(address);
    if (family === 0) return false;
    try {
      return this.list.check(address, family === 4 ? 'ipv4' : 'ipv6');
    } catch {
      return false; // e.g. a zone index (fe80::1%eth0) BlockList refuses: not in the set.
    }
  }
}

function parseCidr(entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = entry.indexOf('/');
  const address = (slash === -1 ? entry : entry.slice(0, slash)).trim();
  const family = isIP(address);
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  let prefix = max;
  if (slash !== -1) {
    const text = entry.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(text)) return undefined;
    prefix = Number(text);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family: family === 4 ? 'ipv4' : 'ipv6' };
}

const LOOPBACK = AddressSet.parse(['127.0.0.0/8', '::1/128'], 'loopback');

/** True for 127.0.0.0/8, ::1, their IPv4-mapped forms, and the name `localhost`. */
export function isLoopback(host: string): boolean {
  const h = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1');
  return h === 'localhost' || LOOPBACK.has(h);
}
