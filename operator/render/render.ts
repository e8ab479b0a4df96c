// render(snapshot) → per MailServer: relay config, tables, manifests; per object: a verdict for its Ready
// condition. Pure: no I/O, no clock (the caller passes `now`), the caller's objects are not mutated.
// A server with an invalid member is *held*: its manifests are still rendered (for review), but the
// operator applies nothing for it, so the relay keeps serving its last good config.
import { X509Certificate } from 'node:crypto';
import * as yaml from 'js-yaml';
import { basename } from 'node:path';
import { tablesDigest } from '../../relay/lookup/table-digest.ts';
import { crossCheck, validateConfig, type Config } from '../../relay/config/index.ts';
import { validateObject, type AnyKubemtaObject } from '../api/validate.ts';
import type { MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';
import type { PkiCert } from '../api/pkicert.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { VirtualUser } from '../api/virtualuser.ts';
import { checks, containerPortOf, domainWarnings, serviceNameOf, type ServerGroup } from './checks.ts';
import { Paths, renderRelayConfig } from './relay-config.ts';
import { packTables, type Packing } from './tables.ts';
import { claims, configMap, disruptionBudget, hashOf, services, tableSecrets, workload, type Manifest } from './workload.ts';
import { byAge, defaultRenderOptions, objectKey, Reasons, WaitingReasons, type Kind, type RenderOptions, type SecretData, type Snapshot, type Verdict } from './snapshot.ts';

export interface ServerRender {
  key: string;
  server: MailServer;
  /** Some member is invalid, or the config would be: apply nothing, keep the last good config. */
  held: boolean;
  problems: string[];
  config?: Config;
  configYaml?: string;
  manifests: Manifest[];
}

export interface RenderOutput {
  servers: ServerRender[];
  /** By objectKey(kind, namespace, name), for every object of the snapshot. */
  verdicts: Map<string, Verdict>;
}

function verdict(ready: Verdict['ready'], reason: Verdict['reason'], message: string, status: Record<string, unknown> = {}, warnings: string[] = [], waiting = ready === false && WaitingReasons.has(reason)): Verdict {
  return { ready, reason, message, warnings, status, ...(waiting ? { waiting } : {}) };
}

function pkiVerdict(p: PkiCert, secrets: Map<string, SecretData>, now: Date): Verdict {
  const secretName = p.spec.secretName ?? `${p.metadata.name}-tls`;
  const s = secrets.get(secretName);
  if (!s?.data['tls.crt'] || !s.data['tls.key']) {
    return p.spec.selfSigned
      ? verdict(false, Reasons.Issuing, `secret ${secretName}: being created`, { secretName })
      : verdict(false, Reasons.SecretNotFound, `spec.secretName: no Secret "${secretName}" with tls.crt and tls.key`, { secretName });
  }
  try {
    const x = new X509Certificate(s.data['tls.crt']);
    const notAfter = new Date(x.validTo);
    const hostnames = (x.subjectAltName ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4));
    const status = { secretName, notBefore: new Date(x.validFrom).toISOString(), notAfter: notAfter.toISOString(), hostnames };
    if (notAfter <= now) return verdict(false, Reasons.Expired, `secret ${secretName}: the certificate expired at ${notAfter.toISOString()}`, status);
    const missing = p.spec.hostnames.filter((h) => !hostnames.includes(h));
    const warnings = missing.length ? [`spec.hostnames: ${missing.join(', ')} not in the certificate`] : [];
    return verdict(true, Reasons.Ready, `certificate valid until ${notAfter.toISOString()}`, status, warnings);
  } catch {
    return verdict(false, Reasons.InvalidSpec, `secret ${secretName}: tls.crt is not a PEM certificate`, { secretName });
  }
}

function tableProblem(p: Extract<Packing, { ok: false }>, shards: number, o: RenderOptions): string {
  if (p.why === 'too-large') {
    return `spec.tableShards: table "${p.table}" (${p.bytes} bytes) is larger than one Secret (${o.shardBytes} bytes), and the relay reads a table from one file (tables.<name>.file), so it cannot span Secrets: fewer logins or users per Listener/MailDomain`;
  }
  return `spec.tableShards: the tables do not fit in ${shards} Secrets of ${o.shardBytes} bytes (table "${p.table}", ${p.bytes} bytes, found no room); raise tableShards`;
}

export function render(snapshot: Snapshot, opts: Partial<RenderOptions> & { now?: Date } = {}): RenderOutput {
  const options: RenderOptions = { ...defaultRenderOptions, ...opts };
  const now = opts.now ?? new Date(0);
  const verdicts = new Map<string, Verdict>();
  const keyOf = (o: AnyKubemtaObject) => objectKey(o.kind as Kind, o.metadata.namespace ?? options.namespace, o.metadata.name);

  // 1. schema and CEL-style rules, on copies (defaults are filled in)
  const valid = { MailServer: [] as MailServer[], Listener: [] as Listener[], PkiCert: [] as PkiCert[], MailDomain: [] as MailDomain[], VirtualUser: [] as VirtualUser[] };
  const invalid = new Map<string, string>();
  const all = [...snapshot.mailServers, ...snapshot.listeners, ...snapshot.pkiCerts, ...snapshot.mailDomains, ...snapshot.virtualUsers];
  for (const raw of all) {
    let v = options.validated?.get(raw);
    if (!v) {
      v = validateObject(structuredClone(raw));
      options.validated?.set(raw, v);
    }
    if (v.ok) (valid[raw.kind as Kind] as AnyKubemtaObject[]).push(v.object);
    else {
      invalid.set(keyOf(raw), v.problems.join('; '));
      verdicts.set(keyOf(raw), verdict(false, Reasons.InvalidSpec, v.problems.join('; ')));
    }
  }
  const ns = (o: { metadata: { namespace?: string } }) => o.metadata.namespace ?? options.namespace;
  const secrets = new Map(snapshot.secrets.map((s) => [`${s.metadata.namespace ?? options.namespace}/${s.metadata.name}`, s]));
  const secretsIn = (namespace: string) =>
    new Map([...secrets].filter(([k]) => k.startsWith(`${namespace}/`)).map(([k, s]) => [k.slice(namespace.length + 1), s]));

  for (const p of valid.PkiCert) verdicts.set(keyOf(p), pkiVerdict(p, secretsIn(ns(p)), now));

  // 2. membership
  const serverKeys = new Set(valid.MailServer.map((s) => `${ns(s)}/${s.metadata.name}`));
  const invalidNames = (kind: Kind, namespace: string, name: string) => invalid.has(objectKey(kind, namespace, name));
  // a member whose server is missing waits for it (Reconciling); one whose server is invalid follows it
  const serverless = (o: { metadata: { namespace?: string } }, ref: string, field: string): Verdict | undefined => {
    if (serverKeys.has(`${ns(o)}/${ref}`)) return undefined;
    if (invalidNames('MailServer', ns(o), ref)) return verdict(false, Reasons.MailServerNotReady, `${field}: MailServer "${ref}" is invalid: ${invalid.get(objectKey('MailServer', ns(o), ref))}`);
    return verdict(false, Reasons.MailServerNotFound, `${field}: no MailServer "${ref}"`);
  };
  for (const l of valid.Listener) {
    const v = serverless(l, l.spec.mailServerRef.name, 'spec.mailServerRef.name');
    if (v) verdicts.set(keyOf(l), v);
  }
  for (const d of valid.MailDomain) {
    const v = serverless(d, d.spec.mailServerRef.name, 'spec.mailServerRef.name');
    if (v) verdicts.set(keyOf(d), v);
  }
  const domainByKey = new Map(valid.MailDomain.map((d) => [`${ns(d)}/${d.metadata.name}`, d]));
  for (const u of valid.VirtualUser) {
    const ref = u.spec.mailDomainRef.name;
    const domain = domainByKey.get(`${ns(u)}/${ref}`);
    if (!domain) {
      const broken = invalidNames('MailDomain', ns(u), ref);
      verdicts.set(keyOf(u), verdict(false, Reasons.MailDomainNotFound, `spec.mailDomainRef.name: ${broken ? `MailDomain "${ref}" is invalid` : `no MailDomain "${ref}"`}`, {}, [], !broken));
    } else {
      // its domain's server is missing or invalid: the user follows (named through its domain)
      const v = serverless(u, domain.spec.mailServerRef.name, `MailDomain "${ref}"`);
      if (v) verdicts.set(keyOf(u), v);
    }
  }

  // 3. per server
  const servers: ServerRender[] = [];
  for (const server of [...valid.MailServer].sort(byAge)) {
    const namespace = ns(server);
    const name = server.metadata.name;
    const member = (o: { metadata: { namespace?: string } }, ref: string) => ns(o) === namespace && ref === name;
    const listeners = valid.Listener.filter((l) => member(l, l.spec.mailServerRef.name)).sort(byAge);
    const domains = valid.MailDomain.filter((d) => member(d, d.spec.mailServerRef.name)).sort(byAge);
    const domainNames = new Set(domains.map((d) => d.metadata.name));
    const users = valid.VirtualUser.filter((u) => ns(u) === namespace && domainNames.has(u.spec.mailDomainRef.name)).sort(byAge);
    const held: string[] = [];
    // invalid objects that name this server (or one of its domains) hold it
    for (const o of all) {
      if (!invalid.has(keyOf(o)) || ns(o) !== namespace) continue;
      const spec = o.spec as { mailServerRef?: { name?: string }; mailDomainRef?: { name?: string } } | undefined;
      if (spec?.mailServerRef?.name === name || (spec?.mailDomainRef?.name && domainNames.has(spec.mailDomainRef.name))) {
        held.push(`${o.kind}/${o.metadata.name}: ${invalid.get(keyOf(o))}`);
      }
    }
    for (const u of valid.VirtualUser) {
      if (ns(u) === namespace && !domainNames.has(u.spec.mailDomainRef.name) && invalidNames('MailDomain', namespace, u.spec.mailDomainRef.name)) {
        // its domain is broken: counted through the domain already
      }
    }
    const group: ServerGroup = {
      server,
      listeners,
      domains,
      users,
      pkiCerts: new Map(valid.PkiCert.filter((p) => ns(p) === namespace).map((p) => [p.metadata.name, p])),
      secrets: secretsIn(namespace),
      options,
    };
    const bad = new Set<string>();
    let ownReason: Verdict['reason'] | undefined; // the MailServer's own field at fault gives its reason
    let onlyWaiting = held.length === 0; // every problem is something not there yet (any apply order)
    for (const v of checks.flatMap((c) => c(group))) {
      const k = objectKey(v.kind, namespace, v.name);
      if (bad.has(k)) continue;
      bad.add(k);
      if (k === keyOf(server)) ownReason = v.reason;
      if (!WaitingReasons.has(v.reason)) onlyWaiting = false;
      verdicts.set(k, verdict(false, v.reason, v.message));
      held.push(`${v.kind}/${v.name}: ${v.message}`);
    }
    const good: ServerGroup = {
      ...group,
      listeners: listeners.filter((l) => !bad.has(keyOf(l))),
      domains: domains.filter((d) => !bad.has(keyOf(d))),
      users: users.filter((u) => !bad.has(keyOf(u))),
    };
    const problems: string[] = [];
    let config: Config | undefined;
    let configYaml: string | undefined;
    let configHash: string | undefined;
    let tablesHash: string | undefined;
    const manifests: Manifest[] = [];
    let serverReason: Verdict['reason'] = Reasons.Ready;
    if (good.listeners.length === 0) {
      problems.push('no valid Listener names this MailServer');
      serverReason = Reasons.NoListeners;
      if (listeners.length) onlyWaiting = false; // it has Listeners, all of them invalid
    } else {
      const rendered = renderRelayConfig(good);
      const packing = packTables(rendered.tables, { count: server.spec.tableShards, limit: options.shardBytes, split: options.splitTables });
      if (!packing.ok) {
        problems.push(tableProblem(packing, server.spec.tableShards, options));
        serverReason = Reasons.TableTooLarge;
        onlyWaiting = false;
      } else {
        for (const [table, files] of packing.files) {
          if (files.length > 1) (rendered.config.tables as Record<string, unknown>)[table] = { type: rendered.config.tables[table].type, files: files.map((f) => `${Paths.tablesDir}/${f}`) };
        }
        // what the relay reports back once it serves this config (relay/ops/http.ts): the config's own hash,
        // carried in the config, and the digest of the table files it names (computed alike on both sides;
        // a changed table leaves the config as it is)
        const tables = tableSecrets(server, packing.slots);
        configHash = hashOf(rendered.config);
        rendered.config = { configHash, ...rendered.config };
        const texts = new Map(packing.slots.flatMap((s) => s.files.map((f) => [f.name, f.text] as const)));
        tablesHash = tablesDigest(rendered.config.tables, (f) => texts.get(basename(f)));
        const check = validateConfig(structuredClone(rendered.config));
        const cross = check.ok ? crossCheck(check.config) : [];
        if (!check.ok || cross.length) {
          problems.push(...(check.ok ? cross : check.problems).map((p) => `relay config: ${p}`));
          serverReason = Reasons.InvalidRelayConfig;
          onlyWaiting = false;
        }
        config = rendered.config;
        configYaml = yaml.dump(config, { lineWidth: 160, noRefs: true });
        manifests.push(configMap(server, configYaml), ...tables, ...claims(server), ...services(good), workload(good, server.spec.tableShards), ...disruptionBudget(server));
      }
    }
    if (held.length && serverReason === Reasons.Ready) serverReason = ownReason ?? Reasons.HeldByInvalidObjects;
    const isHeld = held.length > 0 || problems.length > 0;
    const workloadKind = server.spec.replicas > 1 ? 'StatefulSet' : 'Deployment';
    const serverStatus = {
      workload: `${workloadKind}/${name}`,
      listeners: good.listeners.length,
      domains: good.domains.length,
      users: good.users.length,
      ...(config ? { configHash, tablesHash } : {}),
    };
    const heldMsg = [...problems, ...held];
    verdicts.set(
      keyOf(server),
      isHeld
        ? verdict(false, serverReason, `holding the last good config: ${heldMsg.slice(0, 5).join('; ')}${heldMsg.length > 5 ? `; and ${heldMsg.length - 5} more` : ''}`, serverStatus, [], onlyWaiting)
        : verdict(true, Reasons.Ready, `${good.listeners.length} listener(s), ${good.domains.length} domain(s), ${good.users.length} user(s)`, serverStatus),
    );
    const heldNote = `not applied: MailServer "${name}" holds its last good config`;
    // the server's own spec at fault (not a member's): its members are not served as they are, and say why
    const followed = ownReason && !WaitingReasons.has(ownReason) ? verdict(false, Reasons.MailServerNotReady, `MailServer "${name}" is not ready: ${ownReason}`) : undefined;
    const heldVerdict = () => followed ?? verdict('held', Reasons.Held, heldNote);
    for (const l of good.listeners) {
      verdicts.set(keyOf(l), isHeld ? heldVerdict() : verdict(true, Reasons.Ready, `serving on container port ${containerPortOf(l)}`, { containerPort: containerPortOf(l), serviceName: serviceNameOf(l, server) }));
    }
    for (const d of good.domains) {
      const count = good.users.filter((u) => u.spec.mailDomainRef.name === d.metadata.name).length;
      const w = domainWarnings(d);
      verdicts.set(keyOf(d), isHeld ? (followed ?? verdict('held', Reasons.Held, heldNote, {}, w)) : verdict(true, Reasons.Ready, `${count} user(s)`, { users: count, warnings: w }, w));
    }
    for (const u of good.users) verdicts.set(keyOf(u), isHeld ? heldVerdict() : verdict(true, Reasons.Ready, 'in the relay\'s tables', { mailServer: name }));
    servers.push({ key: `${namespace}/${name}`, server, held: isHeld, problems: heldMsg, config, configYaml, manifests });
  }
  // kubectl get columns read these (a list printed as `a,b`, not as JSON)
  const readable = (o: AnyKubemtaObject, fields: Record<string, string>) => {
    const v = verdicts.get(keyOf(o));
    if (v) v.status = { ...fields, ...v.status };
  };
  for (const d of valid.MailDomain) readable(d, { domains: d.spec.domains.join(',') });
  for (const u of valid.VirtualUser) {
    const d = domainByKey.get(`${ns(u)}/${u.spec.mailDomainRef.name}`);
    const address = u.spec.address ?? (d ? d.spec.domains.filter((x) => !x.includes('*')).map((x) => `${u.spec.localPart}@${x}`).join(',') : u.spec.localPart!);
    readable(u, { address: address.toLowerCase() });
  }
  for (const p of valid.PkiCert) readable(p, { names: p.spec.hostnames.join(',') });
  return { servers, verdicts };
}
