// The network a client address counts under: IPv4 masked to a prefix (32: the address), IPv6 to one
// (64 by default: a single host is routinely given a whole /64, so counting per address would be void).
import { isIP } from 'node:net';
import { plainAddress } from '../lookup/cidr.ts';

function ipv6Words(a: string): number[] | undefined {
  let text = a.split('%')[0];
  // an embedded IPv4 tail (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) as two words
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) + `${((b0 << 8) | b1).toString(16)}:${((b2 << 8) | b3).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const part = (s: string | undefined) => (s ? s.split(':').map((h) => parseInt(h, 16)) : []);
  const h = part(head);
  const t = part(tail);
  const words = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : undefined;
}

/** `address/prefix` with the host bits cleared, e.g. 2001:db8:1:2::/64; the address itself if unparsable. */
export function clientNetwork(address: string, ipv4Prefix: number, ipv6Prefix: number): string {
  const a = plainAddress(address);
  const v = isIP(a);
  if (v === 4) {
    const n = a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    const block = 2 ** (32 - ipv4Prefix);
    const m = Math.floor(n / block) * block;
    return `${[24, 16, 8, 0].map((s) => Math.floor(m / 2 ** s) % 256).join('.')}/${ipv4Prefix}`;
  }
  const words = v === 6 ? ipv6Words(a) : undefined;
  if (!words) return a;
  const masked = words.map((w, i) => {
    const bits = Math.min(16, Math.max(0, ipv6Prefix - i * 16));
    return bits === 16 ? w : bits === 0 ? 0 : w & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${masked.map((w) => w.toString(16)).join(':')}/${ipv6Prefix}`;
}
