// DNS queries that say whether the answer is authenticated: the AD bit of a DNSSEC-validating resolver, which
// node:dns (c-ares) does not expose. DANE needs it (RFC 7672 2.1: TLSA records count only when validated),
// and like Postfix (smtp_dns_support_level = dnssec) kubemta trusts the resolver's AD bit rather than
// validating signatures itself: the resolver must be a validating one, reached over a trusted path
// (loopback, the node, the cluster's DNS). Queries set RD, AD and the EDNS DO bit (RFC 6840 5.7, RFC 3225);
// UDP, retried over TCP when the answer is truncated. Packets are dns-packet's (mafintosh/dns-packet).
import { createSocket } from 'node:dgram';
import { getServers } from 'node:dns';
import { connect, isIP } from 'node:net';
import { randomInt } from 'node:crypto';
import * as packet from 'dns-packet';

export type SecureLookup<T> =
  | { kind: 'ok'; value: T[]; authenticated: boolean }
  | { kind: 'none' | 'nxdomain'; authenticated: boolean }
  | { kind: 'tempfail'; cause: string };

interface Server {
  address: string;
  port: number;
}

/** `192.0.2.1`, `192.0.2.1:5353`, `2001:db8::1`, `[2001:db8::1]:5353` (the forms node:dns setServers takes). */
export function parseServer(spec: string): Server {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (v6) return { address: v6[1], port: Number(v6[2] ?? 53) };
  if (isIP(spec) === 6) return { address: spec, port: 53 };
  const [address, port] = spec.split(':');
  return { address, port: Number(port ?? 53) };
}

export class DnssecResolver {
  private readonly servers: Server[];
  private readonly timeoutMs: number;

  /** `servers` as outbound.resolver.servers; default the system's (resolv.conf). */
  constructor(opts: { servers?: string[]; timeoutMs: number }) {
    this.servers = (opts.servers?.length ? opts.servers : getServers()).map(parseServer);
    this.timeoutMs = opts.timeoutMs;
  }

  /** The records of one type at `name`, with the AD bit of the answer. Each server is tried in turn, twice (UDP loses packets). */
  async query<T>(name: string, type: packet.RecordType): Promise<SecureLookup<T>> {
    const causes: string[] = [];
    for (const server of [...this.servers, ...this.servers]) {
      try {
        const res = await this.exchange(server, name, type);
        const authenticated = res.flag_ad === true;
        const rcode = (res as unknown as { rcode: string }).rcode;
        if (rcode === 'NXDOMAIN') return { kind: 'nxdomain', authenticated };
        if (rcode !== 'NOERROR') {
          causes.push(`${server.address}: ${rcode}`);
          continue;
        }
        const value = (res.answers ?? []).filter((a) => a.type === type).map((a) => (a as unknown as { data: T }).data);
        return value.length ? { kind: 'ok', value, authenticated } : { kind: 'none', authenticated };
      } catch (err) {
        causes.push(`${server.address}: ${(err as Error).message}`);
      }
    }
    return { kind: 'tempfail', cause: `${type} ${name}: ${causes.join('; ') || 'no DNS server'}` };
  }

  private request(name: string, type: packet.RecordType): { id: number; query: packet.Packet } {
    const id = randomInt(0x10000);
    return {
      id,
      query: {
        type: 'query',
        id,
        flags: packet.RECURSION_DESIRED | packet.AUTHENTIC_DATA,
        questions: [{ type, name, class: 'IN' }],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, flags: packet.DNSSEC_OK } as unknown as packet.Answer],
      },
    };
  }

  private async exchange(server: Server, name: string, type: packet.RecordType): Promise<packet.DecodedPacket> {
    const { id, query } = this.request(name, type);
    const udp = await this.udp(server, id, packet.encode(query));
    return udp.flag_tc ? this.tcp(server, id, query) : udp;
  }

  private udp(server: Server, id: number, buf: Buffer): Promise<packet.DecodedPacket> {
    const socket = createSocket(isIP(server.address) === 6 ? 'udp6' : 'udp4');
    return new Promise<packet.DecodedPacket>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
      const done = (err: Error | null, res?: packet.DecodedPacket) => {
        clearTimeout(timer);
        socket.close();
        if (err) reject(err);
        else resolve(res!);
      };
      socket.on('error', (err) => done(err));
      socket.on('message', (msg, rinfo) => {
        if (rinfo.address !== server.address || rinfo.port !== server.port) return;
        try {
          const res = packet.decode(msg);
          if (res.id === id) done(null, res);
        } catch {
          // not a DNS answer: keep waiting for one
        }
      });
      socket.send(buf, server.port, server.address);
    });
  }

  private tcp(server: Server, id: number, query: packet.Packet): Promise<packet.DecodedPacket> {
    return new Promise<packet.DecodedPacket>((resolve, reject) => {
      const sock = connect({ host: server.address, port: server.port });
      let buf = Buffer.alloc(0);
      const timer = setTimeout(() => sock.destroy(new Error(`timed out after ${this.timeoutMs} ms (TCP)`)), this.timeoutMs);
      sock.on('connect', () => sock.write(packet.streamEncode(query)));
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        clearTimeout(timer);
        sock.destroy();
        try {
          const res = packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
          if (res.id !== id) reject(new Error('TCP answer with another id'));
          else resolve(res);
        } catch (err) {
          reject(err as Error);
        }
      });
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('close', () => {
        clearTimeout(timer);
        reject(new Error('TCP connection closed before an answer'));
      });
    });
  }
}
