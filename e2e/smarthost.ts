// The relay's smarthost in the e2e tier: a receiving SMTP server on the host's pod-bridge address that keeps
// every message, and can be made slow (each end of DATA answered after `delayMs`) so that mail piles up in
// the relay's queue, as it does behind a real, slower next hop.
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface Smarthost {
  port: number;
  received: { to: string[]; data: Buffer }[];
  /** Delay before each 250 at the end of DATA. */
  delayMs: number;
  /** How many messages carry the header `X-E2E-Id: id`. */
  count(id: string): number;
  close(): Promise<void>;
}

export async function startSmarthost(address: string): Promise<Smarthost> {
  const host: Smarthost = {
    port: 0,
    received: [],
    delayMs: 0,
    count: (id) => host.received.filter((m) => m.data.includes(`\nX-E2E-Id: ${id}\r\n`)).length,
    close: async () => {},
  };
  const server = new SMTPServer({
    logger: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    size: 50 << 20,
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        setTimeout(() => {
          host.received.push({ to: session.envelope.rcptTo.map((r) => r.address), data: Buffer.concat(chunks) });
          cb();
        }, host.delayMs);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, address, () => resolve()));
  host.port = (server as unknown as { server: { address(): AddressInfo } }).server.address().port;
  host.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return host;
}
