// `listen on …`, `pki …` and the credentials tables listeners name → Listeners, PkiCerts, and Secrets
// (a kubernetes.io/tls Secret per pki whose files are at hand, a credentials Secret per `auth <table>`).
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { hashScheme } from '../../relay/auth/hash.ts';
import type { Listener } from '../api/listener.ts';
import { containerPortOf } from '../render/checks.ts';
import type { Ctx } from './context.ts';
import { ImportError } from './findings.ts';
import type { ListenDecl, PkiDecl } from './model.ts';
import { sourcePath } from './makemap-tables.ts';

interface Placed {
  decl: ListenDecl;
  port: number;
  loopback: boolean;
}

const LOOPBACK_NOTE = 'mail from localhost: clients in the pod';

/** Where each listener binds. `listen on inet4 …` has no interface (the seed's Listing 1): all addresses,
 * unless an earlier listener already holds that port on all of them, which leaves loopback. */
function place(ctx: Ctx): Placed[] {
  const out: Placed[] = [];
  for (const l of ctx.conf.listeners) {
    const port = l.port ?? (l.tls === 'implicit' ? 465 : 25);
    let loopback = l.iface.kind === 'loopback';
    if (l.iface.kind === 'named') {
      ctx.findings.changed(l, `listen on ${l.iface.name}`, 'a Listener binds every address of the pod (its Service decides who reaches it); an interface or address has no meaning there');
    } else if (l.iface.kind === 'missing') {
      const holder = out.find((p) => !p.loopback && p.port === port);
      if (holder) {
        loopback = true;
        ctx.findings.changed(l, l.text, `no interface after "listen on" (OpenSMTPD wants one); port ${port} on every address is line ${holder.decl.line}'s, so this one listens on 127.0.0.1 (${LOOPBACK_NOTE})`);
      } else ctx.findings.changed(l, l.text, 'no interface after "listen on" (OpenSMTPD wants one); read as "listen on all"');
    }
    out.push({ decl: l, port, loopback });
  }
  return out;
}

function roleName(p: Placed): string {
  if (p.loopback) return 'local';
  if (p.decl.auth || p.port === 587) return 'submission';
  if (p.decl.tls === 'implicit' || p.port === 465) return 'smtps';
  return p.port === 25 ? 'inbound' : `smtp-${p.port}`;
}

function credentialsSecret(ctx: Ctx, l: ListenDecl, made: Map<string, string>): string | undefined {
  const ref = l.auth?.table;
  if (!ref) {
    ctx.findings.changed(l, 'auth', 'system accounts (PAM, getpwnam) cannot log in; give VirtualUsers a login, or name a credentials table');
    return undefined;
  }
  const key = ref.kind === 'table' ? ref.name : '';
  const known = made.get(key);
  if (known) return known;
  const data = ctx.tables.read(ref);
  if (!data) {
    ctx.findings.dropped(ref, `auth <${key}>`, `a ${ctx.tables.backend(ref)} table is not read; give a credentials file (user<TAB>hash)`);
    return undefined;
  }
  const lines: string[] = [];
  for (const e of data.entries) {
    if (hashScheme(e.value) === 'unknown') {
      ctx.findings.dropped({ line: e.line }, `user "${e.key}"`, 'its password hash is neither bcrypt nor $6$/$5$ crypt (kubemta encrypt makes one)', data.file);
      continue;
    }
    lines.push(`${e.key}\t${e.value}`);
  }
  const name = ctx.name('Secret', data.name);
  const decl = ctx.conf.tables.get(key);
  ctx.emit('Secret', name, { type: 'Opaque', stringData: { credentials: lines.join('\n') + (lines.length ? '\n' : '') } }, decl ? { line: decl.line, text: `table ${key}` } : undefined);
  made.set(key, name);
  return name;
}

function readIfThere(ctx: Ctx, path: string | undefined): string | undefined {
  if (!path) return undefined;
  const p = sourcePath(ctx.opts.tablesDir, 'file', path);
  return existsSync(p) ? readFileSync(p, 'utf8') : undefined;
}

function pkiCert(ctx: Ctx, p: PkiDecl, names: string[]): string {
  const name = ctx.name('PkiCert', p.name);
  const cert = readIfThere(ctx, p.cert);
  const key = readIfThere(ctx, p.key);
  let hostnames = names;
  let spec: Record<string, unknown>;
  if (cert && key) {
    try {
      const sans = (new X509Certificate(cert).subjectAltName ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
      if (sans.length) hostnames = sans;
    } catch {
      throw new ImportError(`${ctx.configName}:${p.line}: pki ${p.name}: ${p.cert} is not a PEM certificate`);
    }
    const secret = ctx.name('Secret', `${name}-tls`);
    ctx.emit('Secret', secret, { type: 'kubernetes.io/tls', stringData: { 'tls.crt': cert, 'tls.key': key } }, { line: p.line, text: `pki ${p.name}` });
    spec = { hostnames, secretName: secret };
  } else {
    const missing = [!p.cert ? 'no certificate file given' : !cert ? `${p.cert} not in --tables-dir` : '', !key ? (p.key ? `${p.key} not in --tables-dir` : 'no key file given') : ''].filter(Boolean).join(', ');
    ctx.findings.changed(p, `pki ${p.name}`, `${missing}: the operator self-signs a certificate; for a real one set spec.secretName to a kubernetes.io/tls Secret (cert-manager's)`);
    spec = { hostnames, selfSigned: {} };
  }
  ctx.emit('PkiCert', name, { spec }, { line: p.line, text: `pki ${p.name}` });
  return name;
}

/** Emits the Listeners and what they name: PkiCerts (with TLS Secrets) and credentials Secrets. */
export function listenersToCrs(ctx: Ctx, server: string, serverHostname: string): void {
  const placed = place(ctx);
  const pkiUsers = new Map<string, string[]>();
  for (const p of placed) for (const n of p.decl.pki) pkiUsers.set(n, [...(pkiUsers.get(n) ?? []), p.decl.hostname ?? serverHostname]);
  const pkiNames = new Map<string, string>();
  for (const [name, hostnames] of pkiUsers) {
    const decl = ctx.conf.pki.get(name);
    if (!decl) throw new ImportError(`${ctx.configName}: a listener names pki "${name}", which is not declared`);
    pkiNames.set(name, pkiCert(ctx, decl, [...new Set(hostnames)]));
  }
  for (const p of ctx.conf.pki.values()) if (!pkiUsers.has(p.name)) ctx.findings.dropped(p, `pki ${p.name}`, 'no listener uses it (a relay action\'s client certificate is not imported)');

  const secrets = new Map<string, string>();
  const containerPorts = new Set<number>();
  for (const p of placed) {
    const l = p.decl;
    if (l.auth && l.tls === 'none') throw new ImportError(`${ctx.configName}:${l.line}: auth needs tls, tls-require or smtps on the same listener (OpenSMTPD refuses it too)`);
    let pkiRef = l.pki[0] ? pkiNames.get(l.pki[0]) : undefined;
    if (l.tls !== 'none' && !pkiRef) {
      const host = l.hostname ?? serverHostname;
      pkiRef = pkiNames.get(`@${host}`) ?? pkiCert(ctx, { name: host, line: l.line, col: l.col }, [host]);
      pkiNames.set(`@${host}`, pkiRef);
    }
    if (l.pki.length > 1) ctx.findings.changed(l, `pki ${l.pki.slice(1).join(', ')}`, 'a Listener names one PkiCert; SNI chooses among the PkiCerts Listeners name');
    const spec: Record<string, unknown> = {
      mailServerRef: { name: server },
      port: p.port,
      ...(p.loopback ? { address: l.family === 'inet6' ? '::1' : '127.0.0.1' } : {}),
      ...(l.family !== 'any' ? { family: l.family } : {}),
      ...(l.hostname ? { hostname: l.hostname } : {}),
      tls: { mode: l.tls, ...(pkiRef ? { pkiCertRef: { name: pkiRef } } : {}) },
    };
    if (l.auth) {
      const secret = credentialsSecret(ctx, l, secrets);
      spec.auth = { required: l.auth.required, ...(secret ? { credentialsSecretRef: { name: secret } } : {}) };
    }
    if (l.tag) spec.tag = l.tag;
    if (l.proxyV2) {
      spec.proxyProtocol = { trustedNetworks: ['0.0.0.0/0', '::/0'] };
      ctx.findings.changed(l, 'proxy-v2', 'every peer may send a PROXY header, as in OpenSMTPD; narrow spec.proxyProtocol.trustedNetworks to the load balancers');
    }
    let cp = containerPortOf({ spec: { port: p.port } } as Listener); // the port the relay binds in the pod, as render defaults it
    if (containerPorts.has(cp)) {
      while (containerPorts.has(cp)) cp++;
      spec.containerPort = cp;
    }
    containerPorts.add(cp);
    if (p.loopback) spec.service = { type: 'None' };
    ctx.emit('Listener', ctx.name('Listener', roleName(p)), { spec }, { line: l.line, text: l.text });
  }
}

/** The hostname smtpd.conf implies: the first listener's `hostname`, else a pki name that is a domain. */
export function impliedHostname(ctx: Ctx): string | undefined {
  const named = ctx.conf.listeners.filter((l) => l.hostname);
  const outside = named.find((l) => l.iface.kind !== 'loopback') ?? named[0];
  if (outside?.hostname) return outside.hostname;
  return [...ctx.conf.pki.keys()].find((n) => n.includes('.'));
}
