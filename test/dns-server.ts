// A real DNS server on 127.0.0.1 (UDP, dns2) serving a zone the test controls and may change while it
// runs. A name absent from the zone is NXDOMAIN; a name without records of the asked type is NODATA;
// `servfail: true` answers SERVFAIL for every type.
import dns2 from 'dns2';

export interface ZoneEntry {
  mx?: [preference: number, exchange: string][];
  a?: string[];
  aaaa?: string[];
  txt?: string[];
  servfail?: boolean;
}

export type Zone = Record<string, ZoneEntry>;

export interface TestDns {
  /** `127.0.0.1:port`, for outbound.resolver.servers */
  server: string;
  zone: Zone;
  /** Queries seen, as `TYPE name`. */
  queries: string[];
  close(): Promise<void>;
}

const { Packet } = dns2;
const NXDOMAIN = 3;
const SERVFAIL = 2;
type Answer = Parameters<InstanceType<typeof Packet>['answers']['push']>[0];

/** Serves `zone` on `address` (loopback by default; the e2e tier listens where pods reach the host). */
export async function startDns(zone: Zone, address = '127.0.0.1'): Promise<TestDns> {
  const queries: string[] = [];
  const typeName = (t: number) => Object.entries(Packet.TYPE).find(([, v]) => v === t)?.[0] ?? String(t);
  const server = dns2.createServer({
    udp: true,
    handle: (request, send) => {
      const response = Packet.createResponseFromRequest(request);
      const [q] = request.questions;
      const name = q.name.toLowerCase().replace(/\.$/, '');
      queries.push(`${typeName(q.type)} ${name}`);
      const entry = zone[name];
      const base = { name: q.name, class: Packet.CLASS.IN, ttl: 60 };
      if (!entry) {
        response.header.rcode = NXDOMAIN;
      } else if (entry.servfail) {
        response.header.rcode = SERVFAIL;
      } else if (q.type === Packet.TYPE.MX) {
        for (const [priority, exchange] of entry.mx ?? []) response.answers.push({ ...base, type: Packet.TYPE.MX, priority, exchange } as unknown as Answer);
      } else if (q.type === Packet.TYPE.A) {
        for (const address of entry.a ?? []) response.answers.push({ ...base, type: Packet.TYPE.A, address } as unknown as Answer);
      } else if (q.type === Packet.TYPE.AAAA) {
        for (const address of entry.aaaa ?? []) response.answers.push({ ...base, type: Packet.TYPE.AAAA, address } as unknown as Answer);
      } else if (q.type === Packet.TYPE.TXT) {
        for (const data of entry.txt ?? []) response.answers.push({ ...base, type: Packet.TYPE.TXT, data } as unknown as Answer);
      }
      void send(response);
    },
  });
  const addresses = await server.listen({ udp: { port: 0, address } });
  return { server: `${address}:${addresses.udp!.port}`, zone, queries, close: () => server.close() };
}
