// Cross-reference checks the schema cannot express: names that must exist, ports that must not clash.
// Each check returns the problems it found, each with the path of the offending value.
import { isIP } from 'node:net';
import type { Config } from './schema.ts';
import { parseCidr } from '../lookup/cidr.ts';
import { DomainSet } from '../lookup/domains.ts';
import { literalFamilyProblem, parseSmarthost } from './smarthost.ts';

type Check = (config: Config) => string[];

const uniquePkiNames: Check = (c) =>
  c.pki.flatMap((p, i) => (c.pki.findIndex((q) => q.name === p.name) !== i ? [`pki[${i}].name: duplicate pki name "${p.name}"`] : []));

const listenerPkiExists: Check = (c) =>
  c.listeners.flatMap((l, i) =>
    l.pki !== undefined && !c.pki.some((p) => p.name === l.pki) ? [`listeners[${i}].pki: no pki named "${l.pki}"`] : [],
  );

const tlsNeedsPki: Check = (c) =>
  c.listeners.flatMap((l, i) =>
    l.tls !== 'none' && c.pki.length === 0 ? [`listeners[${i}].tls: "${l.tls}" needs a certificate, and no pki is configured`] : [],
  );

const authTableIsCredentials: Check = (c) =>
  c.listeners.flatMap((l, i) => {
    if (l.auth === undefined) return [];
    const t = c.tables[l.auth];
    if (!t) return [`listeners[${i}].auth: no table named "${l.auth}"`];
    if (t.type !== 'credentials') return [`listeners[${i}].auth: table "${l.auth}" is of type ${t.type}, not credentials`];
    return [];
  });

const authNeedsTls: Check = (c) =>
  c.listeners.flatMap((l, i) =>
    l.auth !== undefined && l.tls === 'none'
      ? [`listeners[${i}].auth: AUTH is only offered after TLS, so a listener with tls: none cannot authenticate; use starttls, starttls-required or implicit`]
      : [],
  );

const authRequiredNeedsAuth: Check = (c) =>
  c.listeners.flatMap((l, i) => (l.authRequired && l.auth === undefined ? [`listeners[${i}].authRequired: needs an auth table`] : []));

const tableHasSource: Check = (c) =>
  Object.entries(c.tables).flatMap(([name, t]) =>
    [t.file, t.files, t.entries].filter((x) => x !== undefined).length !== 1 ? [`tables.${name}: give exactly one of file, files or entries`] : [],
  );

/** `path` names a table of one of `kinds`. */
function tableRef(c: Config, path: string, name: string, kinds: string[]): string[] {
  const t = c.tables[name];
  if (!t) return [`${path}: no table named "${name}"`];
  if (!kinds.includes(t.type)) return [`${path}: table "${name}" is of type ${t.type}, not ${kinds.join(' or ')}`];
  return [];
}

const ruleReferences: Check = (c) =>
  (c.rules ?? []).flatMap((r, i) => {
    const at = `rules[${i}]`;
    const out: string[] = [];
    if ((r.action === undefined) === (r.reject === undefined)) out.push(`${at}: give exactly one of action or reject`);
    if (r.action !== undefined && !c.actions[r.action]) out.push(`${at}.action: no action named "${r.action}" in actions`);
    if (typeof r.from === 'object' && 'table' in r.from) out.push(...tableRef(c, `${at}.from.table`, r.from.table, ['networks']));
    if (typeof r.from === 'object' && 'networks' in r.from) {
      r.from.networks.forEach((n, k) => {
        if (!parseCidr(n)) out.push(`${at}.from.networks[${k}]: "${n}" is not an address or CIDR`);
      });
    }
    if (typeof r.for === 'object' && 'domains' in r.for) out.push(...tableRef(c, `${at}.for.domains`, r.for.domains, ['domains']));
    if (typeof r.for === 'object' && 'domain' in r.for) {
      const list = Array.isArray(r.for.domain) ? r.for.domain : [r.for.domain];
      list.forEach((d, k) => {
        try {
          new DomainSet().add(d);
        } catch (err) {
          out.push(`${at}.for.domain${list.length > 1 ? `[${k}]` : ''}: ${(err as Error).message}`);
        }
      });
    }
    if (r.virtual !== undefined) out.push(...tableRef(c, `${at}.virtual`, r.virtual, ['virtual', 'aliases']));
    if (r.alias !== undefined) out.push(...tableRef(c, `${at}.alias`, r.alias, ['aliases']));
    return out;
  });

const lmtpHasDestination: Check = (c) =>
  Object.entries(c.actions).flatMap(([name, a]) =>
    a.type === 'lmtp' && (a.socket === undefined) === (a.host === undefined)
      ? [`actions.${name}: an lmtp action needs exactly one of host (with port) or socket`]
      : [],
  );

const addressMatchesFamily: Check = (c) =>
  c.listeners.flatMap((l, i) => {
    if (l.address === undefined) return [];
    const v = isIP(l.address);
    if (v === 0) return [`listeners[${i}].address: "${l.address}" is not an IP address`];
    if ((l.family === 'inet4' && v !== 4) || (l.family === 'inet6' && v !== 6)) {
      return [`listeners[${i}].address: "${l.address}" is not an ${l.family} address`];
    }
    return [];
  });

const noPortClash: Check = (c) =>
  c.listeners.flatMap((l, i) => {
    if (l.port === 0) return [];
    const j = c.listeners.findIndex((m) => m.port === l.port && (m.address === l.address || isWildcard(m.address) || isWildcard(l.address)));
    return j !== i ? [`listeners[${i}].port: port ${l.port} is already used by listeners[${j}]`] : [];
  });

const proxyNetworksParse: Check = (c) =>
  c.listeners.flatMap((l, i) =>
    (l.proxyProtocol?.trustedNetworks ?? []).flatMap((n, k) =>
      parseCidr(n) ? [] : [`listeners[${i}].proxyProtocol.trustedNetworks[${k}]: "${n}" is not an address or CIDR`],
    ),
  );

/** Every smarthost URL of the config, with its path. */
function smarthosts(c: Config): [path: string, spec: string][] {
  const out: [string, string][] = c.outbound.smarthost ? [['outbound.smarthost', c.outbound.smarthost]] : [];
  for (const [name, a] of Object.entries(c.actions)) if (a.type === 'relay' && a.smarthost) out.push([`actions.${name}.smarthost`, a.smarthost]);
  return out;
}

const smarthostUsable: Check = (c) =>
  smarthosts(c).flatMap(([path, spec]) => {
    const sh = parseSmarthost(spec);
    if (!sh) return [`${path}: "${spec}" is not smtp://host:port or smtps://host:port`];
    const problem = literalFamilyProblem(sh.host, c.outbound.family);
    return problem ? [`${path}: ${problem}; delivery would never connect (use an ${c.outbound.family} address or a name)`] : [];
  });

function isWildcard(a: string | undefined): boolean {
  return a === undefined || a === '0.0.0.0' || a === '::';
}

export const checks: Check[] = [
  uniquePkiNames,
  listenerPkiExists,
  tlsNeedsPki,
  authTableIsCredentials,
  authNeedsTls,
  authRequiredNeedsAuth,
  tableHasSource,
  ruleReferences,
  lmtpHasDestination,
  addressMatchesFamily,
  noPortClash,
  proxyNetworksParse,
  smarthostUsable,
];

export function crossCheck(config: Config): string[] {
  return checks.flatMap((check) => check(config));
}
