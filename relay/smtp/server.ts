// smtp-server with the relay's connection class and PROXY protocol v1 and v2, both parsed here so that
// every refusal is an SMTP reply (smtp-server reads only v1, and answers its errors in IMAP).
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import type { NetworkList } from '../lookup/cidr.ts';
import { StrictConnection, type ConnectionPolicy } from './connection.ts';
import { watchCommandDeadline, type CommandDeadline } from './deadline.ts';
import { looksLikeV2, parseProxyV2 } from './proxy-v2.ts';
import { looksLikeV1, parseProxyV1 } from './proxy-v1.ts';

type SocketOptions = { id: string; remoteAddress?: string; remotePort?: number; ignore?: boolean };
type ProxyCallback = (err: Error | null, opts?: SocketOptions) => void;

interface Internals {
  connections: Set<unknown>;
  _onError(err: Error): void;
  _onClientConnect(data: unknown): void;
  _handleProxy(socket: Socket, cb: ProxyCallback): void;
}

function sessionId(): string {
  return BigInt('0x' + randomBytes(10).toString('hex')).toString(32).padStart(16, '0');
}

export class RelaySmtpServer extends SMTPServer {
  connectionPolicy: ConnectionPolicy;
  proxyPeers: NetworkList | undefined;
  readonly commandDeadline: CommandDeadline | undefined;

  constructor(options: SMTPServerOptions, policy: ConnectionPolicy, proxyPeers?: NetworkList, commandDeadline?: CommandDeadline) {
    super({ ...options, useProxy: proxyPeers ? true : false });
    this.connectionPolicy = policy;
    this.proxyPeers = proxyPeers;
    this.commandDeadline = commandDeadline;
  }

  override connect(socket: Socket, socketOptions: SocketOptions): void {
    const self = this as unknown as Internals;
    const connection = new StrictConnection(this, socket, socketOptions as never);
    self.connections.add(connection);
    connection.on('error', (err: Error) => self._onError(err));
    connection.on('connect', (data: unknown) => self._onClientConnect(data));
    if (this.commandDeadline) watchCommandDeadline(connection, this.commandDeadline);
    connection.init();
  }

  _expectsProxyHeader(socket: Socket): boolean {
    return !!this.proxyPeers && !!socket.remoteAddress && this.proxyPeers.has(socket.remoteAddress);
  }

  _handleProxy(socket: Socket, callback: ProxyCallback): void {
    const parent = SMTPServer.prototype as unknown as Internals;
    if (!this._expectsProxyHeader(socket)) return parent._handleProxy.call(this, socket, callback);
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = (err: Error | null, opts?: SocketOptions) => {
      if (done) return;
      done = true;
      socket.removeListener('readable', onReadable);
      socket.removeListener('close', onClose);
      callback(err, opts);
    };
    const onClose = () => finish(new Error('Socket closed before PROXY header was received'));
    const refuse = (text: string, reason: string) => {
      // in SMTP (smtp-server would answer "* BAD", an IMAP reply)
      socket.on('error', () => {});
      socket.end(`421 4.7.0 ${text}\r\n`);
      return finish(new Error(reason));
    };
    const onReadable = () => {
      for (let chunk = socket.read() as Buffer | null; chunk; chunk = socket.read() as Buffer | null) {
        buf = Buffer.concat([buf, chunk]);
        const v2 = looksLikeV2(buf);
        if (!v2 && !looksLikeV1(buf)) return refuse('Expected a PROXY protocol header', 'no PROXY header');
        const r = v2 ? parseProxyV2(buf) : parseProxyV1(buf);
        if (r.kind === 'incomplete') continue;
        if (r.kind === 'invalid') return refuse(`Invalid PROXY header: ${r.reason}`, r.reason);
        const rest = buf.subarray(r.consumed);
        const opts: SocketOptions = { id: sessionId() };
        if (r.kind === 'proxy') {
          opts.remoteAddress = r.sourceAddress;
          opts.remotePort = r.sourcePort;
        }
        socket.removeListener('readable', onReadable);
        if (rest.length) socket.unshift(rest);
        return finish(null, opts);
      }
    };
    socket.on('readable', onReadable);
    socket.on('close', onClose);
  }
}
