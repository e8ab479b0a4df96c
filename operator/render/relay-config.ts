// One MailServer's objects → the relay's config (relay/config/schema.ts) and its table files. Paths are
// where workload.ts mounts things; the relay hot-reloads when any of those files changes.
import type { Config } from '../../relay/config/index.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { MailServer } from '../api/mailserver.ts';
import { SIDECAR_FILTER_URL } from '../api/intake.ts';
import type { Listener } from '../api/listener.ts';
import type { VirtualUser } from '../api/virtualuser.ts';
import { parseTableLines } from '../../relay/lookup/table-file.ts';
import { containerPortOf, loginName, secretKey, userKeys, type ServerGroup } from './checks.ts';
import { listText, relayName, tableText, type TableFile } from './table-shards.ts';
import { sendsMailOut, serverDkim } from './dkim-keys.ts';

export const Paths = {
  configDir: '/etc/kubemta/config',
  configFile: '/etc/kubemta/config/relay.yaml',
  tablesDir: '/etc/kubemta/tables',
  pkiDir: '/etc/kubemta/pki',
  secretsDir: '/etc/kubemta/secrets',
  /** The DKIM keys the operator generates (operator/render/dkim-keys.ts), one file per selector. */
  dkimDir: '/etc/kubemta/dkim',
  queueMount: '/var/spool/kubemta',
  mailMount: '/var/lib/kubemta/mail',
  tmp: '/tmp',
  httpPort: 8025,
} as const;

type Rule = NonNullable<Config['rules']>[number];
type Action = Config['actions'][string];

/** Exact domains first, then wildcards, within the same priority; then by name. */
export function domainOrder(a: MailDomain, b: MailDomain): number {
  const wa = a.spec.domains.some((d) => d.includes('*')) ? 1 : 0;
  const wb = b.spec.domains.some((d) => d.includes('*')) ? 1 : 0;
  return a.spec.priority - b.spec.priority || wa - wb || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
}

function domainAction(d: MailDomain): Action {
  const del = d.spec.delivery;
  switch (del.type) {
    case 'lmtp':
      return { type: 'lmtp', host: del.lmtp?.host, port: del.lmtp?.port, rcptTo: del.lmtp?.rcptTo ?? 'mailbox' };
    case 'relay':
      return del.relay?.smarthost ? { type: 'relay', smarthost: del.relay.smarthost } : { type: 'relay' };
    default:
      return { type: del.type };
  }
}

function userTargets(u: VirtualUser): string[] {
  return [...(u.spec.mailbox ? [u.spec.mailbox] : []), ...(u.spec.forwardTo ?? [])];
}

function virtualEntries(d: MailDomain, users: VirtualUser[]): Map<string, string[]> {
  const entries = new Map<string, string[]>();
  if (d.spec.postmaster) entries.set('postmaster', [d.spec.postmaster]);
  if (d.spec.catchAll) for (const p of d.spec.domains) if (!p.includes('*')) entries.set(`@${p.toLowerCase()}`, [d.spec.catchAll]);
  for (const u of users) entries.set(userKeys(u)[0], userTargets(u));
  return entries;
}

function selects(l: Listener, u: VirtualUser): boolean {
  const want = l.spec.auth?.users?.matchLabels ?? {};
  const have = u.metadata.labels ?? {};
  return Object.entries(want).every(([k, v]) => have[k] === v);
}

function credentialsText(g: ServerGroup, l: Listener): string {
  const entries = new Map<string, string[]>();
  const ref = l.spec.auth?.credentialsSecretRef;
  const file = ref ? secretKey(g, ref) : undefined;
  if (file) for (const line of parseTableLines(file.toString('utf8'))) entries.set(line.key, [line.value]);
  for (const u of g.users) {
    const name = loginName(u);
    if (name === undefined || !selects(l, u)) continue;
    const hash = secretKey(g, u.spec.login!.passwordHashSecretRef);
    if (hash) entries.set(name, [hash.toString('utf8').trim()]);
  }
  return tableText(entries);
}

export interface RelayRender {
  config: Config;
  tables: TableFile[];
}

/** Builds the config from objects that passed every check (the caller filters). */
/** spec.authentication and spec.filter as the relay's `intake` (neither: none, the relay's default is off). */
function intakeConfig(server: MailServer): Record<string, unknown> | undefined {
  const { authentication: a, filter: f } = server.spec;
  if (!a && !f) return undefined;
  const url = f?.url ?? (f?.serviceRef ? `http://${f.serviceRef.name}.${server.metadata.namespace}.svc:${f.serviceRef.port}` : f?.sidecar ? SIDECAR_FILTER_URL : undefined);
  return {
    authentication: a
      ? { enabled: a.enabled, dmarcReject: a.dmarcReject, dmarcQuarantine: a.dmarcQuarantine, timeoutSeconds: a.timeoutSeconds, ...(a.dnsServers ? { dnsServers: a.dnsServers } : {}) }
      : { enabled: false },
    filter: f && url ? { url, timeoutSeconds: f.timeoutSeconds, onFailure: f.onFailure } : { enabled: false },
  };
}

export function renderRelayConfig(g: ServerGroup): RelayRender {
  const s = g.server.spec;
  const tables: TableFile[] = [];
  const tableRef = (t: TableFile) => {
    tables.push(t);
    return t.name;
  };
  const pkiNames = [...new Set(g.listeners.map((l) => l.spec.tls.pkiCertRef?.name).filter((n): n is string => !!n))].sort();
  const pki = pkiNames.map((name) => ({
    name,
    cert: `${Paths.pkiDir}/${name}.crt`,
    key: `${Paths.pkiDir}/${name}.key`,
    hostnames: g.pkiCerts.get(name)!.spec.hostnames,
    selfSigned: false,
  }));
  const listeners = g.listeners.map((l) => {
    const auth = l.spec.auth
      ? tableRef({ name: relayName('auth-', l.metadata.name), type: 'credentials', text: credentialsText(g, l) })
      : undefined;
    return {
      name: relayName('', l.metadata.name),
      ...(l.spec.address ? { address: l.spec.address } : {}),
      port: containerPortOf(l),
      family: l.spec.family,
      ...(l.spec.hostname ? { hostname: l.spec.hostname } : {}),
      tls: l.spec.tls.mode,
      ...(l.spec.tls.pkiCertRef ? { pki: l.spec.tls.pkiCertRef.name } : {}),
      ...(auth ? { auth, authRequired: l.spec.auth!.required } : { authRequired: false }),
      ...(l.spec.tag ? { tag: l.spec.tag } : {}),
      ...(l.spec.proxyProtocol ? { proxyProtocol: { trustedNetworks: l.spec.proxyProtocol.trustedNetworks } } : {}),
      ...(l.spec.maxMessageBytes ? { maxMessageBytes: l.spec.maxMessageBytes } : {}),
      ...(l.spec.rates ? { rates: l.spec.rates } : {}),
      ...(l.spec.intake ? { intake: l.spec.intake } : {}),
    };
  });

  const actions: Record<string, Action> = {};
  const rules: Rule[] = [];
  if (s.local) {
    actions.local = { type: s.local.delivery };
    const aliases = s.local.aliases && Object.keys(s.local.aliases).length
      ? tableRef({ name: 'aliases', type: 'aliases', text: tableText(Object.entries(s.local.aliases)) })
      : undefined;
    rules.push({ name: 'local', from: 'local', for: 'local', ...(aliases ? { alias: aliases } : {}), action: 'local' });
  }
  for (const d of [...g.domains].sort(domainOrder)) {
    const users = g.users.filter((u) => u.spec.mailDomainRef.name === d.metadata.name);
    const name = relayName('domain-', d.metadata.name);
    actions[name] = domainAction(d);
    const patterns = d.spec.domains.map((p) => p.toLowerCase());
    const forClause = patterns.length === 1
      ? { domain: patterns[0] }
      : { domains: tableRef({ name: relayName('domains-', d.metadata.name), type: 'domains', text: listText(patterns) }) };
    const virtual = tableRef({ name: relayName('virtual-', d.metadata.name), type: 'virtual', text: tableText(virtualEntries(d, users)) });
    rules.push({ name, from: 'any', for: forClause, virtual, action: name });
  }
  const relayFrom = s.outbound.relayFrom;
  if (sendsMailOut(g.server)) actions.relay = { type: 'relay' };
  for (const tag of relayFrom.tags ?? []) rules.push({ name: `relay-tag-${tag}`, from: 'any', tag, for: 'any', action: 'relay' });
  if (relayFrom.authenticated) rules.push({ name: 'relay-authenticated', from: 'any', auth: true, for: 'any', action: 'relay' });
  if (relayFrom.networks?.length) rules.push({ name: 'relay-networks', from: { networks: relayFrom.networks }, for: 'any', action: 'relay' });

  const o = s.outbound;
  const dkim = [
    ...(o.dkim ?? []).map((k) => ({ domain: k.domain, selector: k.selector, keyFile: `${Paths.secretsDir}/dkim-${k.selector}.${k.domain}.key` })),
    ...[...serverDkim(g).byDomain].flatMap(([domain, k]) => k.signing.map((x) => ({ domain, selector: x.selector, keyFile: `${Paths.dkimDir}/${x.file}` }))),
  ];
  const outbound: Record<string, unknown> = {
    family: o.family,
    tls: o.tls,
    mtaSts: o.mtaSts,
    ...(o.dane ? { dane: true } : {}),
    ...(o.hostLookup ? { hostLookup: o.hostLookup } : {}),
    ...(o.heloName ? { heloName: o.heloName } : {}),
    ...(o.tlsPolicies?.length ? { tlsPolicies: o.tlsPolicies } : {}),
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.maxMessagesPerConnection ? { maxMessagesPerConnection: o.maxMessagesPerConnection } : {}),
    ...(o.retry ? { retry: o.retry } : {}),
    ...(o.smarthost ? { smarthost: o.smarthost } : {}),
    ...(o.smarthost && o.smarthostAuth
      ? { smarthostAuth: [{ host: new URL(o.smarthost).host, username: o.smarthostAuth.username, passwordFile: `${Paths.secretsDir}/smarthost-password` }] }
      : {}),
    ...(dkim.length ? { dkim } : {}),
    ...(o.srs
      ? { srs: { domain: o.srs.domain ?? s.hostname, keyFile: `${Paths.secretsDir}/srs-key`, ...(o.srs.maxAgeDays ? { maxAgeDays: o.srs.maxAgeDays } : {}) } }
      : {}),
    ...(s.limits?.queueLifetimeSeconds ? { queueLifetimeSeconds: s.limits.queueLifetimeSeconds } : {}),
  };
  const { queueLifetimeSeconds: _q, ...limits } = s.limits ?? {};
  const intake = intakeConfig(g.server);
  const config = {
    hostname: s.hostname,
    pki,
    listeners,
    tables: Object.fromEntries(tables.map((t) => [t.name, { type: t.type, file: `${Paths.tablesDir}/${t.name}` }])),
    actions,
    rules,
    mailStore: `${Paths.mailMount}/store`,
    queue: { dir: `${Paths.queueMount}/queue` },
    outbound,
    ...(intake ? { intake } : {}),
    limits,
    ...(s.subaddressDelimiter ? { resolution: { subaddressDelimiter: s.subaddressDelimiter } } : {}),
    log: { level: s.logLevel },
    http: { enabled: true, address: '0.0.0.0', port: Paths.httpPort },
  } as unknown as Config;
  return { config, tables };
}

