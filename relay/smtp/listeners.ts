// The SMTP listeners of a relay: one smtp-server per `listeners[]` entry, wired to the session hooks.
// On reload a listener whose socket-level settings are unchanged keeps its socket and sessions (only its
// config and certificates are swapped); one whose settings changed is replaced; one that is gone closes.
import type { SMTPServerOptions } from 'smtp-server';
import type { ListenerConfig } from '../config/schema.ts';
import { NetworkList } from '../lookup/cidr.ts';
import type { ListenerRuntime, Relay } from '../runtime.ts';
import { RelaySmtpServer } from './server.ts';
import { tlsSettings } from './pki.ts';
import type { StrictConnection } from './connection.ts';
import { Replies } from '../protocol/replies.ts';
import { hook } from './session/once.ts';
import { onAuth } from './session/auth.ts';
import { onClose, onConnect } from './session/connect.ts';
import { onData } from './session/data.ts';
import { onMailFrom } from './session/mail.ts';
import { onRcptTo } from './session/rcpt.ts';

export interface RunningListener {
  runtime: ListenerRuntime;
  server: RelaySmtpServer;
  /** What needs a new socket when it changes. */
  key: string;
  port: number;
}

export function listenerName(l: ListenerConfig, i: number): string {
  return l.name ?? `listeners[${i}]`;
}

export function bindAddress(l: ListenerConfig): string {
  return l.address ?? (l.family === 'inet4' ? '0.0.0.0' : '::');
}

function socketKey(l: ListenerConfig): string {
  return JSON.stringify([bindAddress(l), l.port, l.family, l.tls, l.proxyProtocol ?? null, l.auth !== undefined, l.authRequired]);
}

function defaultPki(relay: Relay, l: ListenerConfig) {
  const pki = relay.snapshot.pki;
  return (l.pki !== undefined ? pki.entries.get(l.pki) : undefined) ?? pki.entries.values().next().value;
}

function serverOptions(relay: Relay, rt: ListenerRuntime): SMTPServerOptions {
  const { config } = relay.snapshot;
  const l = rt.cfg;
  const limits = config.limits;
  const tls = l.tls !== 'none';
  const pki = tls ? defaultPki(relay, l) : undefined;
  const disabled: string[] = [];
  if (!tls || l.tls === 'implicit') disabled.push('STARTTLS');
  if (l.auth === undefined) disabled.push('AUTH');
  const log = relay.log;
  return {
    name: l.hostname ?? config.hostname,
    banner: 'kubemta', // smtp-server puts ESMTP before it: "220 <name> ESMTP kubemta"
    secure: l.tls === 'implicit',
    key: pki?.key,
    cert: pki?.cert,
    ...tlsSettings(config.tls),
    SNICallback: tls
      ? (servername: string, cb: (err: Error | null, ctx?: import('node:tls').SecureContext) => void) =>
          cb(null, relay.snapshot.pki.forServername(servername) ?? defaultPki(relay, rt.cfg)?.context)
      : undefined,
    hideSTARTTLS: !tls || l.tls === 'implicit',
    disabledCommands: disabled,
    authMethods: ['PLAIN', 'LOGIN'],
    authOptional: !l.authRequired,
    allowInsecureAuth: false,
    size: l.maxMessageBytes ?? limits.maxMessageBytes,
    rejectOversized: true,
    hideENHANCEDSTATUSCODES: false,
    hideDSN: true,
    // REQUIRETLS (RFC 8689) would bind onward delivery to TLS; the queue does not record it, so it is not offered
    hideREQUIRETLS: true,
    maxClients: limits.maxConnections,
    socketTimeout: limits.idleTimeoutSeconds * 1000,
    closeTimeout: limits.shutdownGraceSeconds * 1000,
    maxCommandLength: limits.maxLineLength,
    disableReverseLookup: true,
    logger: false,
    onConnect: hook(log, 'connect', onConnect(relay, rt)),
    onClose: onClose(relay, rt.name),
    onSecure: (_socket: unknown, _session: unknown, cb: (err?: Error | null) => void) => {
      relay.metrics.tlsHandshakes.inc({ listener: rt.name });
      cb();
    },
    onAuth: hook(log, 'auth', onAuth(relay, rt)),
    onMailFrom: hook(log, 'mail', onMailFrom(relay, rt)),
    onRcptTo: hook(log, 'rcpt', onRcptTo(relay, rt)),
    onData: hook(log, 'data', onData(relay, rt)),
  } as SMTPServerOptions;
}

async function start(relay: Relay, cfg: ListenerConfig, i: number): Promise<RunningListener> {
  const runtime: ListenerRuntime = { name: listenerName(cfg, i), cfg };
  const proxyPeers = cfg.proxyProtocol ? new NetworkList(cfg.proxyProtocol.trustedNetworks) : undefined;
  const server = new RelaySmtpServer(
    serverOptions(relay, runtime),
    {
      get tlsRequired() {
        return runtime.cfg.tls === 'starttls-required';
      },
      get maxCommands() {
        return relay.snapshot.config.limits.maxCommands;
      },
      get greetingDelayMs() {
        return relay.snapshot.config.limits.greetingDelayMs;
      },
    },
    proxyPeers,
    {
      timeoutMs: () => relay.snapshot.config.limits.commandTimeoutSeconds * 1000,
      expired: (conn) => {
        const r = Replies.commandTimeout;
        relay.metrics.refused.inc({ listener: runtime.name, reason: 'command-timeout' });
        relay.log.warn({ listener: runtime.name, client: conn.remoteAddress }, 'command not completed within the deadline; closing session');
        conn.send(r.code, `${r.status} ${r.text}`);
        conn.close();
      },
    },
  );
  server.on('error', (err: Error) => relay.log.debug({ listener: runtime.name, err: err.message }, 'session error'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.server.listen({ host: bindAddress(cfg), port: cfg.port, ipv6Only: cfg.family === 'inet6', backlog: 511 }, () => {
      server.server.removeListener('error', reject);
      resolve();
    });
  });
  const port = (server.server.address() as { port: number }).port;
  relay.log.info({ listener: runtime.name, address: bindAddress(cfg), port, tls: cfg.tls, auth: cfg.auth, tag: cfg.tag }, 'listening');
  return { runtime, server, key: socketKey(cfg), port };
}

/**
 * Stops accepting at once; idle sessions are told 421 and closed now, a session in DATA may finish within
 * the grace period (limits.shutdownGraceSeconds), then smtp-server closes what is left.
 */
export function closeListener(l: RunningListener): Promise<void> {
  const done = new Promise<void>((resolve) => l.server.close(() => resolve()));
  const r = Replies.shuttingDown;
  for (const conn of (l.server as unknown as { connections: Set<StrictConnection> }).connections) {
    if (!conn._dataStream) {
      conn.send(r.code, `${r.status} ${r.text}`);
      conn.close();
    }
  }
  return done;
}

export async function startListeners(relay: Relay): Promise<RunningListener[]> {
  const out: RunningListener[] = [];
  try {
    for (const [i, cfg] of relay.snapshot.config.listeners.entries()) out.push(await start(relay, cfg, i));
  } catch (err) {
    await Promise.all(out.map(closeListener));
    throw err;
  }
  return out;
}

/** Brings the running listeners in line with the (already swapped-in) snapshot. */
export async function reconcileListeners(relay: Relay, running: RunningListener[]): Promise<RunningListener[]> {
  const next: RunningListener[] = [];
  const wanted = relay.snapshot.config.listeners;
  const unmatched = [...running];
  const matched = wanted.map((cfg) => {
    const i = unmatched.findIndex((r) => r.key === socketKey(cfg));
    return i < 0 ? undefined : unmatched.splice(i, 1)[0];
  });
  // net.Server.close() frees the port at once; sessions on the old socket finish in the background
  for (const r of unmatched) void new Promise<void>((resolve) => r.server.close(() => resolve()));
  for (const [i, cfg] of wanted.entries()) {
    const r = matched[i];
    if (r) {
      r.runtime.cfg = cfg;
      r.runtime.name = listenerName(cfg, i);
      // greeting name and SIZE are read per new session, so they change without a new socket
      Object.assign(r.server.options, { name: cfg.hostname ?? relay.snapshot.config.hostname, size: cfg.maxMessageBytes ?? relay.snapshot.config.limits.maxMessageBytes });
      const pki = cfg.tls !== 'none' ? defaultPki(relay, cfg) : undefined;
      if (pki) r.server.updateSecureContext({ key: pki.key, cert: pki.cert, ...tlsSettings(relay.snapshot.config.tls) });
      next.push(r);
    } else {
      next.push(await start(relay, cfg, i));
    }
  }
  return next;
}
