// The checks a schema cannot make: references that must resolve, ports and addresses claimed once.
// Each check looks at one server's objects and reports violations; the first violation of an object is
// the one its Ready condition names. Objects are visited oldest first, so the newcomer loses a conflict.
import type { MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';
import type { PkiCert } from '../api/pkicert.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { VirtualUser } from '../api/virtualuser.ts';
import { hashScheme } from '../../relay/auth/hash.ts';
import { parseTableLines } from '../../relay/lookup/table-file.ts';
import { parseSrsKeys, SRS_MIN_KEY_LENGTH } from '../../relay/lookup/srs.ts';
import { algorithmOf } from '../../relay/deliver/dkim.ts';
import { isLoopback } from '../api/validate.ts';
import { serverDkim, dkimSecretName } from './dkim-keys.ts';
import { Reasons, type Kind, type Reason, type RenderOptions, type SecretData } from './snapshot.ts';

export interface ServerGroup {
  server: MailServer;
  listeners: Listener[];
  domains: MailDomain[];
  users: VirtualUser[];
  pkiCerts: Map<string, PkiCert>;
  secrets: Map<string, SecretData>;
  options: RenderOptions;
}

export interface Violation {
  kind: Kind;
  name: string;
  reason: Reason;
  message: string;
}

type Check = (g: ServerGroup) => Violation[];

export function containerPortOf(l: Listener): number {
  return l.spec.containerPort ?? (l.spec.port < 1024 ? l.spec.port + 10000 : l.spec.port);
}

export function serviceNameOf(l: Listener, server: MailServer): string | undefined {
  return l.spec.service.type === 'None' || isLoopback(l.spec.address) ? undefined : (l.spec.service.name ?? server.metadata.name);
}

/** `postmaster@Example.org` → lower-case domain; the local part is kept as written. */
export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

/** OpenSMTPD-style domain match: `*` matches one or more labels' worth of characters. */
export function domainMatches(pattern: string, domain: string): boolean {
  const re = new RegExp('^' + pattern.toLowerCase().split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.+') + '$');
  return re.test(domain.toLowerCase());
}

export function secretKey(g: ServerGroup, ref: { name: string; key: string }): Buffer | undefined {
  const v = g.secrets.get(ref.name)?.data[ref.key];
  return v === undefined || Buffer.isBuffer(v) ? v : Buffer.from(v); // a structuredClone'd Buffer is a Uint8Array
}

const listenerPkiExists: Check = (g) =>
  g.listeners.flatMap((l): Violation[] => {
    const ref = l.spec.tls.pkiCertRef?.name;
    if (ref === undefined) return [];
    const pki = g.pkiCerts.get(ref);
    if (!pki) return [{ kind: 'Listener', name: l.metadata.name, reason: Reasons.PkiCertNotFound, message: `spec.tls.pkiCertRef.name: no PkiCert "${ref}"` }];
    if (g.options.requirePkiSecrets) {
      const secretName = pki.spec.secretName ?? `${pki.metadata.name}-tls`;
      const s = g.secrets.get(secretName);
      if (!s?.data['tls.crt'] || !s.data['tls.key']) {
        return [{ kind: 'Listener', name: l.metadata.name, reason: Reasons.PkiCertNotReady, message: `spec.tls.pkiCertRef.name: PkiCert "${ref}" has no Secret "${secretName}" with tls.crt and tls.key yet` }];
      }
    }
    return [];
  });

const listenerCredentialsExist: Check = (g) =>
  g.listeners.flatMap((l): Violation[] => {
    const ref = l.spec.auth?.credentialsSecretRef;
    if (!ref) return [];
    const file = secretKey(g, ref);
    if (!file) return [{ kind: 'Listener', name: l.metadata.name, reason: Reasons.SecretNotFound, message: `spec.auth.credentialsSecretRef: no Secret "${ref.name}" with key "${ref.key}"` }];
    // the relay would refuse the whole table on reload; say so here, by line number only (never the content)
    const bad = parseTableLines(file.toString('utf8')).filter((x) => hashScheme(x.value) === 'unknown').map((x) => x.line);
    if (!bad.length) return [];
    return [{ kind: 'Listener', name: l.metadata.name, reason: Reasons.InvalidSpec, message: `spec.auth.credentialsSecretRef: Secret "${ref.name}" key "${ref.key}" line ${bad.slice(0, 5).join(', ')}${bad.length > 5 ? ', …' : ''}: not "user<TAB>hash" with a bcrypt or $6$/$5$ crypt hash (use kubemta encrypt)` }];
  });

/** Why the relay would refuse an SRS key file (its own parser decides), by line number only; undefined when it is fine. */
export function srsKeyProblem(text: string): string | undefined {
  try {
    parseSrsKeys(text);
    return undefined;
  } catch {
    const short = text.split(/\r?\n/).map((l, i) => ({ key: l.trim(), line: i + 1 })).filter((x) => x.key && !x.key.startsWith('#') && x.key.length < SRS_MIN_KEY_LENGTH).map((x) => x.line);
    if (!short.length) return 'holds no key (one secret per line)';
    return `line ${short.slice(0, 5).join(', ')}${short.length > 5 ? ', …' : ''}: a key is at least ${SRS_MIN_KEY_LENGTH} characters`;
  }
}

const serverSrsKeyValid: Check = (g) => {
  const ref = g.server.spec.outbound.srs?.keySecretRef;
  if (!ref) return [];
  const at = { kind: 'MailServer' as const, name: g.server.metadata.name };
  const file = secretKey(g, ref);
  // a missing Secret would leave the pod waiting for its volume; a bad key file would fail the relay's reload
  if (!file) {
    if (!g.options.requirePkiSecrets) return [];
    return [{ ...at, reason: Reasons.SecretNotFound, message: `spec.outbound.srs.keySecretRef: no Secret "${ref.name}" with key "${ref.key}"` }];
  }
  const problem = srsKeyProblem(file.toString('utf8')); // never the content
  return problem ? [{ ...at, reason: Reasons.InvalidSpec, message: `spec.outbound.srs.keySecretRef: Secret "${ref.name}" key "${ref.key}" ${problem}` }] : [];
};

/** The smarthost password and DKIM keys the pod mounts: present, and a DKIM key the relay can sign with. */
const serverOutboundSecrets: Check = (g) => {
  const out = g.server.spec.outbound;
  const at = { kind: 'MailServer' as const, name: g.server.metadata.name };
  const problems: Violation[] = [];
  const missing = (field: string, ref: { name: string; key: string }) =>
    problems.push({ ...at, reason: Reasons.SecretNotFound, message: `${field}: no Secret "${ref.name}" with key "${ref.key}"` });
  const pw = out.smarthostAuth?.passwordSecretRef;
  if (pw && !secretKey(g, pw) && g.options.requirePkiSecrets) missing('spec.outbound.smarthostAuth.passwordSecretRef', pw);
  (out.dkim ?? []).forEach((k, i) => {
    const field = `spec.outbound.dkim[${i}].privateKeySecretRef`;
    const pem = secretKey(g, k.privateKeySecretRef);
    if (!pem) {
      if (g.options.requirePkiSecrets) missing(field, k.privateKeySecretRef);
      return;
    }
    try {
      algorithmOf(pem.toString('utf8'));
    } catch (err) {
      // the reason, never the key
      const why = /RSA or Ed25519/.test((err as Error).message) ? (err as Error).message : 'not a PEM private key';
      problems.push({ ...at, reason: Reasons.InvalidSpec, message: `${field}: Secret "${k.privateKeySecretRef.name}" key "${k.privateKeySecretRef.key}": ${why}` });
    }
  });
  return problems;
};

const listenerPortsUnique: Check = (g) => {
  const out: Violation[] = [];
  const containerPorts = new Map<number, string>();
  const servicePorts = new Map<string, string>();
  for (const l of g.listeners) {
    const cp = containerPortOf(l);
    const svc = serviceNameOf(l, g.server);
    const sp = svc === undefined ? undefined : `${svc}:${l.spec.port}`;
    const clash = (sp && servicePorts.get(sp)) || containerPorts.get(cp);
    if (clash) {
      const what = sp && servicePorts.get(sp) ? `spec.port: port ${l.spec.port} of Service "${svc}"` : `spec.containerPort: container port ${cp}`;
      out.push({ kind: 'Listener', name: l.metadata.name, reason: Reasons.PortConflict, message: `${what} is already used by Listener "${clash}"` });
      continue;
    }
    containerPorts.set(cp, l.metadata.name);
    if (sp) servicePorts.set(sp, l.metadata.name);
  }
  return out;
};

const servicesAgree: Check = (g) => {
  const out: Violation[] = [];
  const first = new Map<string, Listener>();
  for (const l of g.listeners) {
    const svc = serviceNameOf(l, g.server);
    if (svc === undefined) continue;
    const f = first.get(svc);
    if (!f) {
      first.set(svc, l);
      continue;
    }
    const same =
      f.spec.service.type === l.spec.service.type &&
      JSON.stringify(f.spec.service.annotations ?? {}) === JSON.stringify(l.spec.service.annotations ?? {}) &&
      f.spec.service.externalTrafficPolicy === l.spec.service.externalTrafficPolicy;
    if (!same) {
      out.push({ kind: 'Listener', name: l.metadata.name, reason: Reasons.ServiceConflict, message: `spec.service: Service "${svc}" is already defined differently by Listener "${f.metadata.name}" (type, annotations, externalTrafficPolicy must agree)` });
    }
  }
  return out;
};

const userDomainMatches: Check = (g) =>
  g.users.flatMap((u) => {
    if (!u.spec.address) return [];
    const domain = g.domains.find((d) => d.metadata.name === u.spec.mailDomainRef.name);
    if (!domain || domain.spec.domains.some((p) => domainMatches(p, domainOf(u.spec.address!)))) return [];
    return [{ kind: 'VirtualUser', name: u.metadata.name, reason: Reasons.DomainMismatch, message: `spec.address: "${domainOf(u.spec.address)}" is not one of MailDomain "${domain.metadata.name}"'s domains` }];
  });

const userLoginSecretValid: Check = (g) =>
  g.users.flatMap((u): Violation[] => {
    const ref = u.spec.login?.passwordHashSecretRef;
    if (!ref) return [];
    const v = secretKey(g, ref);
    if (!v) return [{ kind: 'VirtualUser', name: u.metadata.name, reason: Reasons.SecretNotFound, message: `spec.login.passwordHashSecretRef: no Secret "${ref.name}" with key "${ref.key}"` }];
    if (hashScheme(v.toString('utf8').trim()) === 'unknown') {
      // never quote the value: it may be a clear password put there by mistake
      return [{ kind: 'VirtualUser', name: u.metadata.name, reason: Reasons.InvalidSpec, message: `spec.login.passwordHashSecretRef: Secret "${ref.name}" key "${ref.key}" is not a bcrypt or $6$/$5$ crypt hash (use kubemta encrypt)` }];
    }
    return [];
  });

/** The keys a user occupies in its MailDomain's virtual table. */
export function userKeys(u: VirtualUser): string[] {
  return u.spec.address ? [u.spec.address.toLowerCase()] : [u.spec.localPart!.toLowerCase()];
}

const addressesClaimedOnce: Check = (g) => {
  const out: Violation[] = [];
  const perDomain = new Map<string, Map<string, string>>();
  const addresses = new Map<string, string>();
  for (const u of g.users) {
    const table = perDomain.get(u.spec.mailDomainRef.name) ?? new Map<string, string>();
    perDomain.set(u.spec.mailDomainRef.name, table);
    const key = userKeys(u)[0];
    const owner = table.get(key) ?? (u.spec.address ? addresses.get(key) : undefined);
    if (owner) {
      const field = u.spec.address ? 'spec.address' : 'spec.localPart';
      out.push({ kind: 'VirtualUser', name: u.metadata.name, reason: Reasons.AddressConflict, message: `${field}: "${key}" is already claimed by VirtualUser "${owner}"` });
      continue;
    }
    table.set(key, u.metadata.name);
    if (u.spec.address) addresses.set(key, u.metadata.name);
  }
  return out;
};

/** Usernames must be unique per server: one credentials line per user. */
export function loginName(u: VirtualUser): string | undefined {
  return u.spec.login ? (u.spec.login.username ?? u.spec.address ?? u.spec.localPart) : undefined;
}

const usernamesUnique: Check = (g) => {
  const out: Violation[] = [];
  const seen = new Map<string, string>();
  for (const u of g.users) {
    const name = loginName(u);
    if (name === undefined) continue;
    const owner = seen.get(name);
    if (owner) out.push({ kind: 'VirtualUser', name: u.metadata.name, reason: Reasons.UsernameConflict, message: `spec.login.username: "${name}" is already the login of VirtualUser "${owner}"` });
    else seen.set(name, u.metadata.name);
  }
  return out;
};

/** A MailDomain whose DKIM keys the operator keeps waits for their Secret (it is generated at once). */
const domainDkimKeys: Check = (g) =>
  g.options.requirePkiSecrets
    ? serverDkim(g).missing.map((d) => ({ kind: 'MailDomain' as const, name: d.metadata.name, reason: Reasons.SecretNotFound, message: `spec.dkim: waiting for the operator to generate the key Secret "${dkimSecretName(d.metadata.name)}"` }))
    : [];

export const checks: Check[] = [
  serverSrsKeyValid,
  domainDkimKeys,
  serverOutboundSecrets,
  listenerPkiExists,
  listenerCredentialsExist,
  listenerPortsUnique,
  servicesAgree,
  userDomainMatches,
  userLoginSecretValid,
  addressesClaimedOnce,
  usernamesUnique,
];

/** Warnings never hold anything: a wildcard top-level domain matches every registry's domain. */
export function domainWarnings(d: MailDomain): string[] {
  const w: string[] = [];
  for (const p of d.spec.domains) {
    if (p === '*' || /\.\*$/.test(p)) w.push(`spec.domains: "${p}" is a wildcard top-level domain; it accepts mail for that name under every TLD, including ones you do not own`);
  }
  if (d.spec.catchAll && d.spec.domains.some((p) => p.includes('*'))) {
    w.push('spec.catchAll: applies to the exact domains only, not to wildcard patterns');
  }
  return w;
}
