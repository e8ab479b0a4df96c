// smtp-server's connection with the relay's protocol hygiene added where the library leaves it open:
//  - only CRLF ends a command line: a bare LF or CR is refused and the session closed, so no peer can make
//    us and a downstream server disagree about where a command (or DATA) ends (SMTP smuggling);
//  - on a starttls-required listener nothing but EHLO/HELO/STARTTLS/NOOP/RSET/QUIT works before TLS;
//  - a cap on commands per session;
//  - replies that carry our own enhanced status code are sent as they are (the library would add a
//    generic one in front).
//  - AUTH is neither offered nor accepted before TLS (smtp-server offers it in plaintext EHLO).
//  - a line-start dot in DATA is removed, also before other text (dots.ts, RFC 5321 4.5.2);
//  - an A-label address is kept as sent, not turned into Unicode (address.ts);
//  - command syntax the library lets through but Postfix and OpenSMTPD refuse (syntax.ts).
// This leans on smtp-server internals (_createParser, _onCommand, _isSupported, send): tests/smtp cover each behaviour,
// so an upgrade that changes them fails loudly.
import { SMTPConnection } from 'smtp-server/lib/smtp-connection.js';
import { ENHANCED, Replies, type SmtpReply } from '../protocol/replies.ts';
import { checkSyntax } from './syntax.ts';
import { keepAddressAsSent } from './address.ts';
import { LeadingDots } from './dots.ts';
import { findBareLineEnd, LF } from '../protocol/lines.ts';

const BEFORE_TLS = new Set(['EHLO', 'HELO', 'STARTTLS', 'NOOP', 'RSET', 'QUIT']);

export interface ConnectionPolicy {
  tlsRequired: boolean;
  maxCommands: number;
  /** Wait before the greeting; a client that talks first gets 421 (early-talker check). 0: greet at once. */
  greetingDelayMs: number;
}

type Parser = {
  _dataMode: boolean;
  _write(chunk: Buffer, encoding: BufferEncoding, next: (err?: Error | null) => void): void;
};


const bySession = new WeakMap<object, StrictConnection>();

/** The connection a session belongs to (hooks get only the session; a DATA timeout must close it). */
export function connectionOf(session: object): StrictConnection | undefined {
  return bySession.get(session);
}

export class StrictConnection extends SMTPConnection {
  private commands = 0;

  constructor(...args: ConstructorParameters<typeof SMTPConnection>) {
    super(...args);
    bySession.set(this.session, this);
  }

  private get policy(): ConnectionPolicy {
    return (this._server as unknown as { connectionPolicy: ConnectionPolicy }).connectionPolicy;
  }

  // smtp-server always waits 100 ms before the greeting; with clients that open a connection per message
  // that caps a listener near 200 msg/s (bench/RESULTS.md), so the wait is a setting, off by default.
  override init(): void {
    const self = this as unknown as { _setListeners(cb: () => void): void; connectionReady(): void };
    self._setListeners(() => {
      const opts = this._server.options;
      if (opts.maxClients && (this._server as unknown as { connections: Set<unknown> }).connections.size > opts.maxClients) {
        const r = Replies.tooManyConnections;
        return this.send(r.code, `${r.status} ${r.text}`);
      }
      const delay = this.policy.greetingDelayMs;
      if (delay > 0) setTimeout(() => self.connectionReady(), delay).unref();
      else self.connectionReady();
    });
  }

  override _createParser(): ReturnType<SMTPConnection['_createParser']> {
    const parser = super._createParser();
    const p = parser as unknown as Parser;
    const write = p._write.bind(p);
    let last = LF;
    const dots = new LeadingDots();
    p._write = (chunk, encoding, next) => {
      if (p._dataMode) {
        // DATA content is checked by the data hook; after it the stream is back at a line start
        last = LF;
        return write(dots.feed(chunk), encoding, next);
      }
      dots.reset();
      if (!chunk?.length) return write(chunk, encoding, next);
      if (findBareLineEnd(chunk, last) !== -1) {
        const r = Replies.bareLineEndInCommand;
        this.send(r.code, `${r.status} ${r.text}`);
        this.close();
        return next();
      }
      last = chunk[chunk.length - 1];
      return write(chunk, encoding, next);
    };
    return parser;
  }

  override _onCommand(command: Buffer, callback?: () => void): void {
    if (!this._upgrading && !this._nextHandler) {
      this.commands++;
      const policy = this.policy;
      if (this.commands > policy.maxCommands) {
        const r = Replies.tooManyCommands;
        this.send(r.code, `${r.status} ${r.text}`);
        return;
      }
      const name = (command || '').toString().split(' ')[0].toUpperCase();
      // AUTH before TLS: refused with a reason, on every listener (smtp-server would offer and run it)
      const authBeforeTls = name === 'AUTH' && !this.secure && super._isSupported('AUTH');
      if (authBeforeTls || (policy.tlsRequired && !this.secure)) {
        if (authBeforeTls || !BEFORE_TLS.has(name)) return this.refuse(Replies.tlsRequired, callback);
      }
      const refused = checkSyntax(command, { auth: this._isSupported('AUTH') });
      if (refused) return this.refuse(refused, callback);
    }
    super._onCommand(command, callback);
  }

  /** Answers a refused command and takes the next one (the session stays open). */
  private refuse(r: SmtpReply, callback?: () => void): void {
    this.send(r.code, `${r.status} ${r.text}`);
    if (callback) setImmediate(callback);
  }

  /** An A-label address stays as sent (address.ts). */
  override _parseAddressCommand(name: string, command: string | Buffer): ReturnType<SMTPConnection['_parseAddressCommand']> {
    return keepAddressAsSent(String(command), super._parseAddressCommand(name, command));
  }

  /** Keeps AUTH out of the EHLO reply until the session is encrypted. */
  override _isSupported(command: string): boolean {
    if (!this.secure && String(command).trim().toUpperCase() === 'AUTH') return false;
    return super._isSupported(command);
  }

  override send(code: number, data?: string | string[], context?: string | false): void {
    if (typeof data === 'string' && ENHANCED.test(data)) return super.send(code, data, false);
    // smtp-server sends a few refusals without an enhanced code (context false: EHLO/HELO syntax, "too
    // many clients"); RFC 2034 exempts only the greeting and the 250 to EHLO/HELO, so those get one
    if (context === false && code >= 400) return super.send(code, data as string);
    return super.send(code, data as string, context as string);
  }
}
