// A receiving SMTP server on 127.0.0.1 for delivery tests (smtp-server): records every transaction and
// answers RCPT and end-of-DATA as the test says, optionally offering STARTTLS or requiring AUTH.
import type { AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';

export interface Received {
  from: string;
  to: string[];
  data: Buffer;
  secure: boolean;
  user?: string;
  session: string;
  /** MAIL FROM parameters (BODY, SMTPUTF8, SIZE), as the client sent them. */
  mailArgs: Record<string, unknown>;
}

export interface SinkOptions {
  /** Reply to a RCPT: undefined accepts; `[code, text]` refuses. */
  rcpt?: (address: string) => [number, string] | undefined;
  /** Reply at the end of DATA: undefined accepts. */
  data?: (msg: Received) => [number, string] | undefined;
  /** Offer STARTTLS with this certificate. */
  tls?: { key: string; cert: string };
  /** Require AUTH with these credentials (allowed without TLS: loopback tests). */
  auth?: { user: string; pass: string };
  /** Refuse every connection with this greeting (e.g. 421, 554). */
  greeting?: [number, string];
  /** Bind address (a loopback address) and port; default 127.0.0.1 and a free port. */
  address?: string;
  port?: number;
}

export interface TestSink {
  port: number;
  received: Received[];
  /** Sessions opened. */
  connections: number;
  options: SinkOptions;
  close(): Promise<void>;
}

function smtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

export async function startSink(options: SinkOptions = {}): Promise<TestSink> {
  const sink: TestSink = { port: 0, received: [], connections: 0, options, close: async () => {} };
  const serverOpts: SMTPServerOptions = {
    logger: false,
    disabledCommands: [...(options.tls ? [] : ['STARTTLS']), ...(options.auth ? [] : ['AUTH'])],
    authOptional: !options.auth,
    allowInsecureAuth: true,
    key: options.tls?.key,
    cert: options.tls?.cert,
    size: 50 * 1024 * 1024,
    onConnect(_session, cb) {
      sink.connections++;
      if (sink.options.greeting) return cb(smtpError(...sink.options.greeting));
      cb();
    },
    onAuth(auth, _session, cb) {
      if (auth.username === options.auth?.user && auth.password === options.auth?.pass) return cb(null, { user: auth.username });
      cb(smtpError(535, 'Authentication credentials invalid'));
    },
    onRcptTo(address, _session, cb) {
      const r = sink.options.rcpt?.(address.address);
      cb(r ? smtpError(...r) : undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const msg: Received = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          data: Buffer.concat(chunks),
          secure: session.secure,
          user: typeof session.user === 'string' ? session.user : undefined,
          session: session.id,
          mailArgs: (session.envelope.mailFrom ? session.envelope.mailFrom.args : undefined) || {},
        };
        const r = sink.options.data?.(msg);
        if (r) return cb(smtpError(...r));
        sink.received.push(msg);
        cb();
      });
    },
  };
  const server = new SMTPServer(serverOpts);
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.address ?? '127.0.0.1', () => resolve()));
  sink.port = ((server as unknown as { server: { address(): AddressInfo } }).server.address()).port;
  sink.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return sink;
}
