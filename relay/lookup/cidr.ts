// Network lists (trusted PROXY peers now, `from src <networks>` rules next) on Node's BlockList.
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

export function parseCidr(text: string): Cidr | undefined {
  const [address, bits, ...rest] = text.trim().split('/');
  if (rest.length) return undefined;
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const prefix = bits === undefined ? max : Number(bits);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > max || (bits !== undefined && !/^\d+$/.test(bits))) return undefined;
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports (`::ffff:127.0.0.1`). */
export function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export class NetworkList {
  private readonly list = new BlockList();
  constructor(networks: string[] = []) {
    for (const n of networks) this.add(n);
  }
  /** Throws on what is not an address or CIDR. */
  add(network: string): void {
    const c = parseCidr(network);
    if (!c) throw new Error(`"${network}" is not an address or CIDR`);
    this.list.addSubnet(c.address, c.prefix, c.family);
  }
  has(address: string): boolean {
    const a = plainAddress(address);
    const v = isIP(a);
    if (v === 0) return false;
    return this.list.check(a, v === 4 ? 'ipv4' : 'ipv6');
  }
}
