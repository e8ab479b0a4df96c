// One outbound SMTP session on nodemailer's SMTPConnection, with promises and the relay's TLS policy:
// connect to one address (DNS was done by mx.ts), EHLO, STARTTLS as the policy says, AUTH when given,
// then any number of transactions. Failures while opening are connection failures (try the next host,
// defer); failures inside a transaction carry the server's reply and decide per recipient.
import { rootCertificates, type TLSSocket } from 'node:tls';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Pooled } from './pool.ts';
import { fastTransform } from './dot-stuff.ts';

type SendStream = { _transform: Parameters<typeof fastTransform>[0] };

/**
 * SMTPConnection whose DATA stream stuffs dots with native searches (see dot-stuff.ts), and which can
 * declare SMTPUTF8 for a mail whose headers need it (nodemailer looks only at the envelope addresses).
 */
class Connection extends SMTPConnection {
  smtputf8 = false;
  declare _supportedExtensions: string[];
  _sendCommand(str: string): void {
    const parent = SMTPConnection.prototype as unknown as { _sendCommand(s: string): void };
    const add = this.smtputf8 && str.startsWith('MAIL FROM:') && !/ SMTPUTF8\b/.test(str) && this._supportedExtensions.includes('SMTPUTF8');
    parent._sendCommand.call(this, add ? `${str} SMTPUTF8` : str);
  }
  _createSendStream(callback: unknown): SendStream {
    const parent = SMTPConnection.prototype as unknown as { _createSendStream(cb: unknown): SendStream };
    const stream = parent._createSendStream.call(this, callback);
    stream._transform = fastTransform(stream._transform);
    return stream;
  }
}

export type TlsPolicyName = 'none' | 'opportunistic' | 'required' | 'verify';

export interface OpenOptions {
  /** Host name (certificate check, SNI, logs). */
  host: string;
  address: string;
  port: number;
  /** Implicit TLS from the first byte (smtps://). */
  implicitTls: boolean;
  tls: TlsPolicyName;
  heloName: string;
  ca?: string;
  auth?: { user: string; pass: string };
  connectTimeoutMs: number;
  greetingTimeoutMs: number;
  commandTimeoutMs: number;
  /**
   * Judges the peer once TLS is up, before anything but EHLO is sent (DANE): a reason refuses the host
   * (code EPEER). With it the chain is not checked against the roots: the check decides.
   */
  peerCheck?: (socket: TLSSocket) => string | undefined;
}

export interface SendEnvelope {
  from: string;
  to: string[];
  size: number;
  use8BitMime: boolean;
  /** The mail needs SMTPUTF8 (RFC 6531), also for its headers alone. */
  smtputf8?: boolean;
}

export type SmtpError = SMTPConnection.SMTPError & { rejectedErrors?: SMTPConnection.SMTPError[]; recipient?: string };

export class SmtpClient implements Pooled {
  readonly host: string;
  readonly address: string;
  readonly conn: Connection;
  messages = 0;
  private ended = false;

  private constructor(opts: OpenOptions, conn: Connection) {
    this.host = opts.host;
    this.address = opts.address;
    this.conn = conn;
    conn.on('end', () => (this.ended = true));
    conn.on('error', () => (this.ended = true));
  }

  get alive(): boolean {
    return !this.ended && !(this.conn as unknown as { _destroyed: boolean })._destroyed;
  }

  get secure(): boolean {
    return this.conn.secure;
  }

  /** Whether the server announced an EHLO keyword, as nodemailer records them (after STARTTLS it adds the second EHLO's keywords to the first's, and uses them so itself). */
  supports(keyword: '8BITMIME' | 'SMTPUTF8'): boolean {
    return this.conn._supportedExtensions.includes(keyword);
  }

  /** `mx.example.net[192.0.2.1]`, as Postfix names the remote MTA. */
  get name(): string {
    return this.host === this.address ? `[${this.address}]` : `${this.host}[${this.address}]`;
  }

  static async open(opts: OpenOptions): Promise<SmtpClient> {
    try {
      return await SmtpClient.openOnce(opts, false);
    } catch (err) {
      // opportunistic: a TLS handshake that fails is retried in plaintext, as Postfix does
      if (opts.tls === 'opportunistic' && !opts.implicitTls && (err as SmtpError).code === 'ETLS') return SmtpClient.openOnce(opts, true);
      throw err;
    }
  }

  private static async openOnce(opts: OpenOptions, plaintext: boolean): Promise<SmtpClient> {
    const verify = opts.tls === 'verify';
    const conn = new Connection({
      host: opts.address,
      port: opts.port,
      secure: opts.implicitTls,
      name: opts.heloName,
      ignoreTLS: opts.tls === 'none' || plaintext,
      requireTLS: opts.tls === 'required' || verify,
      opportunisticTLS: opts.tls === 'opportunistic',
      connectionTimeout: opts.connectTimeoutMs,
      greetingTimeout: opts.greetingTimeoutMs,
      socketTimeout: opts.commandTimeoutMs,
      logger: false,
      tls: {
        servername: opts.host,
        rejectUnauthorized: verify && !opts.peerCheck,
        ca: opts.ca ? [...rootCertificates, opts.ca] : undefined,
        minVersion: 'TLSv1.2',
      },
    } as SMTPConnection.Options);
    const client = new SmtpClient(opts, conn);
    conn.on('error', () => {}); // errors reach the pending callback; an idle connection just dies
    await phase(conn, (done) => conn.connect(done));
    if (opts.peerCheck) {
      const socket = (conn as unknown as { _socket: TLSSocket })._socket;
      const why = conn.secure ? opts.peerCheck(socket) : 'no TLS';
      if (why) {
        conn.close();
        throw Object.assign(new Error(why), { code: 'EPEER' });
      }
    }
    if (opts.auth) {
      const local = /^(127\.|::1$)/.test(opts.address);
      if (!conn.secure && !local) {
        conn.close();
        throw Object.assign(new Error(`not sending credentials to ${client.name} without TLS`), { code: 'ETLS' });
      }
      try {
        await phase(conn, (done) => conn.login(opts.auth!, done));
      } catch (err) {
        conn.close();
        throw err;
      }
    }
    return client;
  }

  send(envelope: SendEnvelope, message: Readable): Promise<SMTPConnection.SentMessageInfo> {
    this.messages++;
    this.conn.smtputf8 = !!envelope.smtputf8;
    return new Promise((resolve, reject) =>
      this.conn.send({ from: envelope.from, to: envelope.to, size: envelope.size, use8BitMime: envelope.use8BitMime }, message, (err, info) =>
        err ? reject(err) : resolve(info),
      ),
    );
  }

  /** RSET after a failed transaction, so the connection can carry the next mail; false if it cannot. */
  async reset(): Promise<boolean> {
    if (!this.alive) return false;
    return phase(this.conn, (done) => this.conn.reset(done)).then(
      () => true,
      () => false,
    );
  }

  close(): void {
    this.ended = true;
    try {
      this.conn.quit();
    } catch {
      this.conn.close();
    }
  }
}

/**
 * Runs one step whose callback SMTPConnection may never call: a failing connection emits 'error' (or
 * just ends) instead, so either settles the step.
 */
export function phase(conn: SMTPConnection, step: (done: (err?: Error | null) => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error) => settle(err);
    const onEnd = () => settle(Object.assign(new Error('connection closed'), { code: 'ECONNECTION' }));
    const settle = (err?: Error | null) => {
      conn.off('error', onError);
      conn.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    conn.once('error', onError);
    conn.once('end', onEnd);
    step(settle);
  });
}
