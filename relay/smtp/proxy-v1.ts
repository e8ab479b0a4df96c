// PROXY protocol v1 (text) header parsing (haproxy's proxy-protocol.txt 2.1). smtp-server reads v1 itself,
// but answers a malformed header with `* BAD Invalid PROXY header`, an IMAP reply, and takes any IP and
// port it finds; server.ts parses both versions here and answers errors in SMTP (421 4.7.0).
import { isIPv4, isIPv6 } from 'node:net';
import type { ProxyV2Result } from './proxy-v2.ts';

export const V1_PREFIX = Buffer.from('PROXY ');
/** The longest v1 line, CRLF included (TCP6 with the longest addresses). */
const MAX_V1_LENGTH = 107;
const PORT = /^(0|[1-9]\d{0,4})$/;

export function looksLikeV1(head: Buffer): boolean {
  const n = Math.min(head.length, V1_PREFIX.length);
  return head.subarray(0, n).equals(V1_PREFIX.subarray(0, n));
}

/** Same result shape as v2: `local` for UNKNOWN (the balancer's own connection: keep the socket's address). */
export function parseProxyV1(buf: Buffer): ProxyV2Result {
  const lf = buf.indexOf('\n');
  if (lf >= 0 && buf[lf - 1] !== 0x0d) return { kind: 'invalid', reason: 'PROXY v1 line not ended by CRLF' };
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= MAX_V1_LENGTH ? { kind: 'invalid', reason: 'PROXY v1 line too long or not ended by CRLF' } : { kind: 'incomplete' };
  if (end + 2 > MAX_V1_LENGTH) return { kind: 'invalid', reason: 'PROXY v1 line too long' };
  const consumed = end + 2;
  const fields = buf.subarray(0, end).toString('latin1').split(' ');
  if (fields[0] !== 'PROXY') return { kind: 'invalid', reason: 'not a PROXY v1 line' };
  if (fields[1] === 'UNKNOWN') return { kind: 'local', consumed };
  if (fields.length !== 6) return { kind: 'invalid', reason: 'PROXY v1 needs: PROXY TCP4|TCP6 source destination sport dport' };
  const [, proto, src, dst, sport, dport] = fields;
  const isFamily = proto === 'TCP4' ? isIPv4 : proto === 'TCP6' ? isIPv6 : undefined;
  if (!isFamily) return { kind: 'invalid', reason: `unknown PROXY v1 protocol ${JSON.stringify(proto.slice(0, 16))}` };
  if (!isFamily(src) || !isFamily(dst)) return { kind: 'invalid', reason: `PROXY v1 addresses are not ${proto} addresses` };
  if (!PORT.test(sport) || !PORT.test(dport) || Number(sport) > 65535 || Number(dport) > 65535) return { kind: 'invalid', reason: 'PROXY v1 ports must be 0-65535' };
  return { kind: 'proxy', consumed, family: proto === 'TCP4' ? 4 : 6, sourceAddress: src, sourcePort: Number(sport) };
}
