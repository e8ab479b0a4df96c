// PROXY protocol v2 (binary) header parsing, so the client address survives a TCP load balancer.
// smtp-server reads v1 (text) headers itself; server.ts sends v1 there and v2 here.

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const FIXED = 16;
/** A v2 header is at most 16 + 65535 bytes; we accept far less (addresses and a few TLVs). */
const MAX_V2_LENGTH = 4096;

export type ProxyV2Result =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'local'; consumed: number }
  | { kind: 'proxy'; consumed: number; sourceAddress: string; sourcePort: number; family: 4 | 6 };

export function looksLikeV2(head: Buffer): boolean {
  const n = Math.min(head.length, V2_SIGNATURE.length);
  return head.subarray(0, n).equals(V2_SIGNATURE.subarray(0, n));
}

function ipv6(buf: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(i).toString(16));
  return groups.join(':');
}

export function parseProxyV2(buf: Buffer): ProxyV2Result {
  if (buf.length < FIXED) return { kind: 'incomplete' };
  if (!buf.subarray(0, 12).equals(V2_SIGNATURE)) return { kind: 'invalid', reason: 'not a PROXY v2 signature' };
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return { kind: 'invalid', reason: `unsupported PROXY version ${verCmd >> 4}` };
  const cmd = verCmd & 0x0f;
  const fam = buf[13];
  const len = buf.readUInt16BE(14);
  if (len > MAX_V2_LENGTH) return { kind: 'invalid', reason: 'PROXY v2 header too long' };
  if (buf.length < FIXED + len) return { kind: 'incomplete' };
  const consumed = FIXED + len;
  if (cmd === 0x0) return { kind: 'local', consumed };
  if (cmd !== 0x1) return { kind: 'invalid', reason: `unknown PROXY v2 command ${cmd}` };
  const body = buf.subarray(FIXED, consumed);
  switch (fam) {
    case 0x11: // TCP over IPv4
      if (len < 12) return { kind: 'invalid', reason: 'PROXY v2 IPv4 block too short' };
      return { kind: 'proxy', consumed, family: 4, sourceAddress: [...body.subarray(0, 4)].join('.'), sourcePort: body.readUInt16BE(8) };
    case 0x21: // TCP over IPv6
      if (len < 36) return { kind: 'invalid', reason: 'PROXY v2 IPv6 block too short' };
      return { kind: 'proxy', consumed, family: 6, sourceAddress: ipv6(body.subarray(0, 16)), sourcePort: body.readUInt16BE(32) };
    default:
      return { kind: 'invalid', reason: `unsupported PROXY v2 address family 0x${fam.toString(16)}` };
  }
}
