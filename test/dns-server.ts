// A real DNS server on loopback (UDP, dns-packet) serving a zone the test controls and may change while it
// runs. A name absent from the zone is NXDOMAIN; a name without records of the asked type is NODATA;
// `servfail: true` answers SERVFAIL for every type. `authenticated` sets the AD bit on a name's answers, as
// a DNSSEC-validating resolver does for a signed zone (for DANE tests; the server signs nothing).
import { createSocket } from 'node:dgram';
import * as packet from 'dns-packet';

export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  /** The certificate association data. */
  data: Buffer;
}

export interface ZoneEntry {
  mx?: [preference: number, exchange: string][];
  a?: string[];
  aaaa?: string[];
  /** One TXT record each; an array is one record of several character-strings (a long DKIM key). */
  txt?: (string | string[])[];
  tlsa?: TlsaRecord[];
  servfail?: boolean;
  /** Answer with AD=1 (validated), overriding the server's `authenticated`. */
  authenticated?: boolean;
}

export type Zone = Record<string, ZoneEntry>;

export interface DnsOptions {
  /** Bind address (a loopback address) and port; default 127.0.0.1 and a free port. */
  address?: string;
  port?: number;
  /** AD bit on every answer (NXDOMAIN and NODATA too) unless an entry says otherwise. */
  authenticated?: boolean;
}

export interface TestDns {
  /** `127.0.0.1:port`, for outbound.resolver.servers */
  server: string;
  zone: Zone;
  /** Queries seen, as `TYPE name`, with ` +do` when the query asked for DNSSEC records. */
  queries: string[];
  close(): Promise<void>;
}

function answers(entry: ZoneEntry, q: packet.Question): packet.Answer[] {
  const base = { name: q.name, class: 'IN' as const, ttl: 60 };
  switch (q.type) {
    case 'MX':
      return (entry.mx ?? []).map(([preference, exchange]) => ({ ...base, type: 'MX', data: { preference, exchange: exchange.replace(/^\.$/, '') } }));
    case 'A':
      return (entry.a ?? []).map((data) => ({ ...base, type: 'A', data }));
    case 'AAAA':
      return (entry.aaaa ?? []).map((data) => ({ ...base, type: 'AAAA', data }));
    case 'TXT':
      return (entry.txt ?? []).map((data) => ({ ...base, type: 'TXT', data }));
    case 'TLSA':
      return (entry.tlsa ?? []).map((t) => ({ ...base, type: 'TLSA', data: { usage: t.usage, selector: t.selector, matchingType: t.matchingType, certificate: t.data } }));
    default:
      return [];
  }
}

export async function startDns(zone: Zone, opts: DnsOptions = {}): Promise<TestDns> {
  const queries: string[] = [];
  const socket = createSocket('udp4');
  socket.on('message', (msg, rinfo) => {
    let request: packet.DecodedPacket;
    try {
      request = packet.decode(msg);
    } catch {
      return;
    }
    const [q] = request.questions ?? [];
    if (!q) return;
    const opt = request.additionals?.find((a) => a.type === 'OPT') as packet.OptAnswer | undefined;
    const name = q.name.toLowerCase().replace(/\.$/, '');
    queries.push(`${q.type} ${name}${opt?.flag_do ? ' +do' : ''}`);
    const entry = zone[name];
    const ad = entry?.authenticated ?? opts.authenticated ?? false;
    let rcode = 0;
    let list: packet.Answer[] = [];
    if (!entry) rcode = 3;
    else if (entry.servfail) rcode = 2;
    else list = answers(entry, q);
    const flags = packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE | (ad && rcode !== 2 ? packet.AUTHENTIC_DATA : 0) | rcode;
    const response = packet.encode({
      type: 'response',
      id: request.id,
      flags,
      questions: [q],
      answers: list,
      additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: opt.flag_do ? packet.DNSSEC_OK : 0 } as unknown as packet.Answer] : [],
    });
    socket.send(response, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(opts.port ?? 0, opts.address ?? '127.0.0.1', () => resolve());
  });
  socket.on('error', () => {});
  const { address, port } = socket.address();
  return { server: `${address}:${port}`, zone, queries, close: () => new Promise<void>((resolve) => socket.close(() => resolve())) };
}
