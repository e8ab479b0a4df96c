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
import { MailServerSpec, type MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';
import type { PkiCert } from '../api/pkicert.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { VirtualUser } from '../api/virtualuser.ts';
import { checks, containerPortOf, domainWarnings, serviceNameOf, type ServerGroup } from './checks.ts';
import { Paths, renderRelayConfig } from './relay-config.ts';
import { packTables, type Packing } from './table-shards.ts';
import { dkimWanted, exactDomains, serverDkim } from './dkim-keys.ts';
import { domainRecords, type DomainRecords } from './dns-records.ts';
import { claims, configMap, disruptionBudget, hashOf, serviceMonitor, services, tableSecrets, workload, type Manifest } from './workload.ts';
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
  /** Each of the server's MailDomains' DNS records (status.dnsRecords). */
  dns: (DomainRecords & { domain: MailDomain })[];
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

/** The most table Secrets the operator uses by itself: the CRD's maximum of spec.tableShards. */
const MAX_TABLE_SHARDS = MailServerSpec.properties.tableShards.maximum as number;

function tableProblem(p: Extract<Packing, { ok: false }>, o: RenderOptions): string {
  if (p.why === 'too-large') {
    return `spec.tableShards: table "${p.table}" (${p.bytes} bytes) is larger than one Secret (${o.shardBytes} bytes), and the relay reads a table from one file (tables.<name>.file), so it cannot span Secrets: fewer logins or users per Listener/MailDomain`;
  }
  return `spec.tableShards: the tables do not fit in ${MAX_TABLE_SHARDS} Secrets of ${o.shardBytes} bytes, the most the operator uses (table "${p.table}", ${p.bytes} bytes, found no room): fewer users per MailServer`;
}

type Valid = { MailServer: MailServer[]; Listener: Listener[]; PkiCert: PkiCert[]; MailDomain: MailDomain[]; VirtualUser: VirtualUser[] };

/** What every phase of one render reads, and the verdicts they fill in. */
interface RenderContext {
  options: RenderOptions;
  now: Date;
  all: AnyKubemtaObject[];
  valid: Valid;
  /** objectKey → the schema problems of an invalid object. */
  invalid: Map<string, string>;
  verdicts: Map<string, Verdict>;
  secrets: Map<string, SecretData>;
  domainByKey: Map<string, MailDomain>;
}

const nsOf = (ctx: RenderContext, o: { metadata: { namespace?: string } }) => o.metadata.namespace ?? ctx.options.namespace;
const keyOf = (ctx: RenderContext, o: AnyKubemtaObject) => objectKey(o.kind as Kind, nsOf(ctx, o), o.metadata.name);
const secretsIn = (ctx: RenderContext, namespace: string) =>
  new Map([...ctx.secrets].filter(([k]) => k.startsWith(`${namespace}/`)).map(([k, s]) => [k.slice(namespace.length + 1), s]));

export function render(snapshot: Snapshot, opts: Partial<RenderOptions> & { now?: Date } = {}): RenderOutput {
  const ctx = validate(snapshot, { ...defaultRenderOptions, ...opts }, opts.now ?? new Date(0));
  for (const p of ctx.valid.PkiCert) ctx.verdicts.set(keyOf(ctx, p), pkiVerdict(p, secretsIn(ctx, nsOf(ctx, p)), ctx.now));
  followServers(ctx);
  const servers = [...ctx.valid.MailServer].sort(byAge).map((server) => renderServer(ctx, server));
  readableColumns(ctx);
  return { servers, verdicts: ctx.verdicts };
}

/** Schema and CEL-style rules, on copies (defaults filled in): an invalid object gets its InvalidSpec verdict. */
function validate(snapshot: Snapshot, options: RenderOptions, now: Date): RenderContext {
  const all = [...snapshot.mailServers, ...snapshot.listeners, ...snapshot.pkiCerts, ...snapshot.mailDomains, ...snapshot.virtualUsers];
  const ctx: RenderContext = {
    options,
    now,
    all,
    valid: { MailServer: [], Listener: [], PkiCert: [], MailDomain: [], VirtualUser: [] },
    invalid: new Map(),
    verdicts: new Map(),
    secrets: new Map(snapshot.secrets.map((s) => [`${s.metadata.namespace ?? options.namespace}/${s.metadata.name}`, s])),
    domainByKey: new Map(),
  };
  for (const raw of all) {
    let v = options.validated?.get(raw);
    if (!v) {
      v = validateObject(structuredClone(raw));
      options.validated?.set(raw, v);
    }
    if (v.ok) (ctx.valid[raw.kind as Kind] as AnyKubemtaObject[]).push(v.object);
    else {
      ctx.invalid.set(keyOf(ctx, raw), v.problems.join('; '));
      ctx.verdicts.set(keyOf(ctx, raw), verdict(false, Reasons.InvalidSpec, v.problems.join('; ')));
    }
  }
  ctx.domainByKey = new Map(ctx.valid.MailDomain.map((d) => [`${nsOf(ctx, d)}/${d.metadata.name}`, d]));
  return ctx;
}

/** Members whose server is missing wait for it (Reconciling); those whose server is invalid follow it. */
function followServers(ctx: RenderContext): void {
  const serverKeys = new Set(ctx.valid.MailServer.map((s) => `${nsOf(ctx, s)}/${s.metadata.name}`));
  const serverless = (o: { metadata: { namespace?: string } }, ref: string, field: string): Verdict | undefined => {
    const ns = nsOf(ctx, o);
    if (serverKeys.has(`${ns}/${ref}`)) return undefined;
    const problems = ctx.invalid.get(objectKey('MailServer', ns, ref));
    if (problems !== undefined) return verdict(false, Reasons.MailServerNotReady, `${field}: MailServer "${ref}" is invalid: ${problems}`);
    return verdict(false, Reasons.MailServerNotFound, `${field}: no MailServer "${ref}"`);
  };
  for (const o of [...ctx.valid.Listener, ...ctx.valid.MailDomain]) {
    const v = serverless(o, o.spec.mailServerRef.name, 'spec.mailServerRef.name');
    if (v) ctx.verdicts.set(keyOf(ctx, o), v);
  }
  for (const u of ctx.valid.VirtualUser) {
    const ref = u.spec.mailDomainRef.name;
    const domain = ctx.domainByKey.get(`${nsOf(ctx, u)}/${ref}`);
    if (!domain) {
      const broken = ctx.invalid.has(objectKey('MailDomain', nsOf(ctx, u), ref));
      ctx.verdicts.set(keyOf(ctx, u), verdict(false, Reasons.MailDomainNotFound, `spec.mailDomainRef.name: ${broken ? `MailDomain "${ref}" is invalid` : `no MailDomain "${ref}"`}`, {}, [], !broken));
    } else {
      // its domain's server is missing or invalid: the user follows (named through its domain)
      const v = serverless(u, domain.spec.mailServerRef.name, `MailDomain "${ref}"`);
      if (v) ctx.verdicts.set(keyOf(ctx, u), v);
    }
  }
}

/** One server: its members, what holds it, its relay config and manifests, and its members' verdicts. */
function renderServer(ctx: RenderContext, server: MailServer): ServerRender {
  const { group, held } = membersOf(ctx, server);
  const checked = checkMembers(ctx, group, held);
  const good: ServerGroup = {
    ...group,
    listeners: group.listeners.filter((l) => !checked.bad.has(keyOf(ctx, l))),
    domains: group.domains.filter((d) => !checked.bad.has(keyOf(ctx, d))),
    users: group.users.filter((u) => !checked.bad.has(keyOf(ctx, u))),
  };
  const out = relayOutput(ctx, good, group.listeners.length > 0);
  const onlyWaiting = checked.onlyWaiting && out.onlyWaiting;
  let reason = out.reason;
  // held: by invalid members, or only by members waiting for something to be made (nothing is wrong)
  if (held.length && reason === Reasons.Ready) reason = checked.ownReason ?? (onlyWaiting ? Reasons.WaitingForMembers : Reasons.HeldByInvalidObjects);
  const problems = [...out.problems, ...held];
  const isHeld = problems.length > 0;
  setServerVerdicts(ctx, good, { isHeld, reason, problems, onlyWaiting, ownReason: checked.ownReason, hashes: { ...(out.config ? { configHash: out.configHash, tablesHash: out.tablesHash } : {}), tableShards: out.tableShards } });
  const dns = setDomainRecords(ctx, group);
  return { key: `${nsOf(ctx, server)}/${server.metadata.name}`, server, held: isHeld, problems, config: out.config, configYaml: out.configYaml, manifests: out.manifests, dns };
}

/** The server's valid members, and the invalid objects that name it (or one of its domains): they hold it. */
function membersOf(ctx: RenderContext, server: MailServer): { group: ServerGroup; held: string[] } {
  const namespace = nsOf(ctx, server);
  const name = server.metadata.name;
  const member = (o: { metadata: { namespace?: string } }, ref: string) => nsOf(ctx, o) === namespace && ref === name;
  const domains = ctx.valid.MailDomain.filter((d) => member(d, d.spec.mailServerRef.name)).sort(byAge);
  const domainNames = new Set(domains.map((d) => d.metadata.name));
  const held: string[] = [];
  for (const o of ctx.all) {
    if (!ctx.invalid.has(keyOf(ctx, o)) || nsOf(ctx, o) !== namespace) continue;
    const spec = o.spec as { mailServerRef?: { name?: string }; mailDomainRef?: { name?: string } } | undefined;
    if (spec?.mailServerRef?.name === name || (spec?.mailDomainRef?.name && domainNames.has(spec.mailDomainRef.name))) {
      held.push(`${o.kind}/${o.metadata.name}: ${ctx.invalid.get(keyOf(ctx, o))}`);
    }
  }
  const group: ServerGroup = {
    server,
    listeners: ctx.valid.Listener.filter((l) => member(l, l.spec.mailServerRef.name)).sort(byAge),
    domains,
    users: ctx.valid.VirtualUser.filter((u) => nsOf(ctx, u) === namespace && domainNames.has(u.spec.mailDomainRef.name)).sort(byAge),
    pkiCerts: new Map(ctx.valid.PkiCert.filter((p) => nsOf(ctx, p) === namespace).map((p) => [p.metadata.name, p])),
    secrets: secretsIn(ctx, namespace),
    options: ctx.options,
  };
  return { group, held };
}

/** The cross-object checks (checks.ts): each member at fault gets its verdict and holds the server. */
function checkMembers(ctx: RenderContext, group: ServerGroup, held: string[]): { bad: Set<string>; ownReason?: Verdict['reason']; onlyWaiting: boolean } {
  const namespace = nsOf(ctx, group.server);
  const bad = new Set<string>();
  let ownReason: Verdict['reason'] | undefined; // the MailServer's own field at fault gives its reason
  let onlyWaiting = held.length === 0; // every problem is something not there yet (any apply order)
  for (const v of checks.flatMap((c) => c(group))) {
    const k = objectKey(v.kind, namespace, v.name);
    if (bad.has(k)) continue;
    bad.add(k);
    if (k === keyOf(ctx, group.server)) ownReason = v.reason;
    if (!WaitingReasons.has(v.reason)) onlyWaiting = false;
    ctx.verdicts.set(k, verdict(false, v.reason, v.message));
    held.push(`${v.kind}/${v.name}: ${v.message}`);
  }
  return { bad, ownReason, onlyWaiting };
}

interface RelayOutput {
  problems: string[];
  reason: Verdict['reason'];
  onlyWaiting: boolean;
  config?: Config;
  configYaml?: string;
  configHash?: string;
  tablesHash?: string;
  /** Table Secrets used: spec.tableShards, or more when the tables need them. */
  tableShards?: number;
  manifests: Manifest[];
}

/** The relay config, its table Secrets packed into shards, the hashes the relay reports back, the manifests. */
function relayOutput(ctx: RenderContext, good: ServerGroup, hasListeners: boolean): RelayOutput {
  const server = good.server;
  if (good.listeners.length === 0) {
    // waiting for a Listener, unless it has Listeners and all of them are invalid
    return { problems: ['no valid Listener names this MailServer'], reason: Reasons.NoListeners, onlyWaiting: !hasListeners, manifests: [] };
  }
  const rendered = renderRelayConfig(good);
  // spec.tableShards is a floor: more Secrets when the tables outgrow it (status.tableShards says how many)
  const previous = (server.status as { tableShards?: number } | undefined)?.tableShards;
  const packing = packTables(rendered.tables, { count: server.spec.tableShards, max: ctx.options.splitTables ? MAX_TABLE_SHARDS : undefined, previous, limit: ctx.options.shardBytes, split: ctx.options.splitTables });
  if (!packing.ok) return { problems: [tableProblem(packing, ctx.options)], reason: Reasons.TableTooLarge, onlyWaiting: false, tableShards: previous, manifests: [] }; // the workload keeps the last good count
  const shards = packing.slots.length;
  for (const [table, files] of packing.files) {
    if (files.length > 1) (rendered.config.tables as Record<string, unknown>)[table] = { type: rendered.config.tables[table].type, files: files.map((f) => `${Paths.tablesDir}/${f}`) };
  }
  // what the relay reports back once it serves this config (relay/ops/http.ts): the config's own hash,
  // carried in the config, and the digest of the table files it names (computed alike on both sides;
  // a changed table leaves the config as it is)
  const tables = tableSecrets(server, packing.slots);
  const configHash = hashOf(rendered.config);
  const config: Config = { configHash, ...rendered.config };
  const texts = new Map(packing.slots.flatMap((s) => s.files.map((f) => [f.name, f.text] as const)));
  const tablesHash = tablesDigest(config.tables, (f) => texts.get(basename(f)));
  const check = validateConfig(structuredClone(config));
  const cross = check.ok ? crossCheck(check.config) : [];
  const problems = (check.ok ? cross : check.problems).map((p) => `relay config: ${p}`);
  const configYaml = yaml.dump(config, { lineWidth: 160, noRefs: true });
  const manifests = [configMap(server, configYaml), ...tables, ...claims(server), ...services(good), workload(good, shards), ...disruptionBudget(server), ...serviceMonitor(server)];
  return { problems, reason: problems.length ? Reasons.InvalidRelayConfig : Reasons.Ready, onlyWaiting: !problems.length, config, configYaml, configHash, tablesHash, tableShards: shards, manifests };
}

/** The server's verdict, and its members': Ready with what they serve, or following a held server. */
function setServerVerdicts(ctx: RenderContext, good: ServerGroup, s: { isHeld: boolean; reason: Verdict['reason']; problems: string[]; onlyWaiting: boolean; ownReason?: Verdict['reason']; hashes: Record<string, string | number | undefined> }): void {
  const server = good.server;
  const name = server.metadata.name;
  const status = { workload: `${server.spec.replicas > 1 ? 'StatefulSet' : 'Deployment'}/${name}`, listeners: good.listeners.length, domains: good.domains.length, users: good.users.length, ...s.hashes };
  const more = s.problems.length > 5 ? `; and ${s.problems.length - 5} more` : '';
  ctx.verdicts.set(
    keyOf(ctx, server),
    s.isHeld
      ? verdict(false, s.reason, `holding the last good config: ${s.problems.slice(0, 5).join('; ')}${more}`, status, [], s.onlyWaiting)
      : verdict(true, Reasons.Ready, `${good.listeners.length} listener(s), ${good.domains.length} domain(s), ${good.users.length} user(s)`, status),
  );
  const heldNote = `not applied: MailServer "${name}" holds its last good config`;
  // the server's own spec at fault (not a member's): its members are not served as they are, and say why
  const followed = s.ownReason && !WaitingReasons.has(s.ownReason) ? verdict(false, Reasons.MailServerNotReady, `MailServer "${name}" is not ready: ${s.ownReason}`) : undefined;
  const heldVerdict = (w: string[] = []) => followed ?? verdict('held', Reasons.Held, heldNote, {}, w);
  for (const l of good.listeners) {
    ctx.verdicts.set(keyOf(ctx, l), s.isHeld ? heldVerdict() : verdict(true, Reasons.Ready, `serving on container port ${containerPortOf(l)}`, { containerPort: containerPortOf(l), serviceName: serviceNameOf(l, server) }));
  }
  for (const d of good.domains) {
    const count = good.users.filter((u) => u.spec.mailDomainRef.name === d.metadata.name).length;
    const w = domainWarnings(d);
    ctx.verdicts.set(keyOf(ctx, d), s.isHeld ? heldVerdict(w) : verdict(true, Reasons.Ready, `${count} user(s)`, { users: count, warnings: w }, w));
  }
  for (const u of good.users) ctx.verdicts.set(keyOf(ctx, u), s.isHeld ? heldVerdict() : verdict(true, Reasons.Ready, 'in the relay\'s tables', { mailServer: name }));
}

/** Every MailDomain of the server gets its DNS records into its status, held or not: they say what to publish. */
function setDomainRecords(ctx: RenderContext, group: ServerGroup): ServerRender['dns'] {
  const dkim = serverDkim(group);
  const published = new Map([...dkim.byDomain].map(([domain, k]) => [domain, k.published]));
  const listedBy = new Map<string, string>();
  return group.domains.map((d) => {
    const domains = exactDomains(d).filter((x) => !listedBy.has(x));
    const r = domainRecords(d, domains, group.server, group.listeners, published);
    for (const x of exactDomains(d)) if (listedBy.has(x)) r.notes.push(`${x}: its records are listed by MailDomain "${listedBy.get(x)}"`);
    for (const x of domains) listedBy.set(x, d.metadata.name);
    if (dkimWanted(d, group.server) && domains.length && !r.records.some((x) => x.purpose === 'dkim')) r.notes.push('DKIM: the operator generates the key in the cluster; its record appears in status.dnsRecords');
    const v = ctx.verdicts.get(keyOf(ctx, d));
    const keys = dkim.status.get(d.metadata.name);
    if (v) v.status = { ...v.status, dnsRecords: r.records, ...(r.mtaStsPolicy ? { mtaStsPolicy: r.mtaStsPolicy } : {}), ...keys };
    return { ...r, domain: d };
  });
}

/** kubectl get columns read these: a list printed as `a,b`, not as JSON. */
function readableColumns(ctx: RenderContext): void {
  const readable = (o: AnyKubemtaObject, fields: Record<string, string>) => {
    const v = ctx.verdicts.get(keyOf(ctx, o));
    if (v) v.status = { ...fields, ...v.status };
  };
  for (const d of ctx.valid.MailDomain) readable(d, { domains: d.spec.domains.join(',') });
  for (const u of ctx.valid.VirtualUser) {
    const d = ctx.domainByKey.get(`${nsOf(ctx, u)}/${u.spec.mailDomainRef.name}`);
    const address = u.spec.address ?? (d ? d.spec.domains.filter((x) => !x.includes('*')).map((x) => `${u.spec.localPart}@${x}`).join(',') : u.spec.localPart!);
    readable(u, { address: address.toLowerCase() });
  }
  for (const p of ctx.valid.PkiCert) readable(p, { names: p.spec.hostnames.join(',') });
}
