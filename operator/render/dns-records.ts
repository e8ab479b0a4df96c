// The DNS records a MailDomain's domains need, computed from the objects (status.dnsRecords, `kubemta
// render`, the DNSEndpoint): MX at the MailServer's public host, SPF, DKIM per selector in use, DMARC,
// MTA-STS (record and policy text) and TLS-RPT. Pure.
import { createHash } from 'node:crypto';
import type { Static } from '@sinclair/typebox';
import type { DnsRecordSchema } from '../api/domain-dns.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';

export type DnsRecord = Static<typeof DnsRecordSchema>;

/** A published DKIM key: its selector and record text. */
export interface DkimSelector {
  selector: string;
  text: string;
}

/**
 * TXT record text in zone-file form: quoted character-strings of at most 255 octets each (RFC 1035
 * 3.3.14; DKIM, SPF and DMARC read them concatenated), `"` and `\` escaped.
 */
export function txtValue(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  const parts: string[] = [];
  for (let i = 0; i < bytes.length || i === 0; i += 255) parts.push(bytes.subarray(i, i + 255).toString('latin1'));
  return parts.map((p) => `"${p.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(' ');
}

/** The text a TXT value carries (its strings concatenated), as a resolver returns it joined. */
export function txtText(value: string): string {
  return Buffer.from(txtStrings(value).join(''), 'latin1').toString('utf8');
}

/** The character-strings of a TXT value, unquoted (what a DNS answer carries). */
export function txtStrings(value: string): string[] {
  return [...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1].replace(/\\(.)/g, '$1'));
}

/**
 * The hosts mail for the domain is delivered to: the names of the MailServer's Listeners on port 25 that
 * the internet can reach (a Service, not bound to loopback), else none.
 */
export function mxHostsOf(server: MailServer, listeners: Listener[]): string[] {
  const inbound = listeners.filter((l) => l.spec.port === 25 && l.spec.service.type !== 'None' && !/^127\.|^::1$/.test(l.spec.address ?? ''));
  return [...new Set(inbound.map((l) => (l.spec.hostname ?? server.spec.hostname).toLowerCase()))].sort();
}

/** The MTA-STS policy (RFC 8461 3.2), LF-separated as the RFC allows. */
export function mtaStsPolicy(d: MailDomain, mxHosts: string[]): string {
  return ['version: STSv1', `mode: ${d.spec.mtaSts.mode}`, ...mxHosts.map((h) => `mx: ${h}`), `max_age: ${d.spec.mtaSts.maxAgeSeconds}`, ''].join('\n');
}

export interface DomainRecords {
  records: DnsRecord[];
  mtaStsPolicy?: string;
  /** What the records leave out and why (printed by `kubemta render`; not Warnings: nothing is wrong). */
  notes: string[];
}

/**
 * Every record the MailDomain's `domains` need (its exact domains that no older MailDomain lists: one
 * list of records per name). `dkim` gives each domain's published selectors.
 */
export function domainRecords(d: MailDomain, domains: string[], server: MailServer, listeners: Listener[], dkim: Map<string, DkimSelector[]>): DomainRecords {
  const mxHosts = mxHostsOf(server, listeners);
  const notes: string[] = [];
  const wild = d.spec.domains.filter((x) => x.includes('*'));
  if (wild.length) notes.push(`spec.domains: no DNS records for ${wild.join(', ')} (publish them for each name that sends or receives mail)`);
  if (!mxHosts.length) notes.push('no MX record: no Listener of the MailServer takes port 25 from outside the pod');
  const policy = mxHosts.length ? mtaStsPolicy(d, mxHosts) : undefined;
  const policyId = policy ? createHash('sha256').update(policy).digest('hex').slice(0, 20) : undefined;
  const records: DnsRecord[] = [];
  const txt = (name: string, text: string, purpose: DnsRecord['purpose']) => records.push({ name, type: 'TXT', value: txtValue(text), purpose });
  const spf = d.spec.spf;
  const dmarc = d.spec.dmarc;
  for (const domain of domains) {
    for (const h of mxHosts) records.push({ name: domain, type: 'MX', value: `10 ${h}.`, purpose: 'mx' });
    txt(domain, ['v=spf1', 'mx', ...(spf.mechanisms ?? []), spf.all].join(' '), 'spf');
    for (const k of dkim.get(domain) ?? []) txt(`${k.selector}._domainkey.${domain}`, k.text, 'dkim');
    const rua = dmarc.reportTo?.length ? `; rua=${dmarc.reportTo.map((a) => `mailto:${a}`).join(',')}` : '';
    const sp = dmarc.subdomainPolicy ? `; sp=${dmarc.subdomainPolicy}` : '';
    const pct = dmarc.percent !== undefined ? `; pct=${dmarc.percent}` : '';
    txt(`_dmarc.${domain}`, `v=DMARC1; p=${dmarc.policy}${sp}${pct}${rua}`, 'dmarc');
    if (policyId) txt(`_mta-sts.${domain}`, `v=STSv1; id=${policyId}`, 'mta-sts');
    const tls = d.spec.tlsRpt.reportTo ?? [`postmaster@${domain}`];
    txt(`_smtp._tls.${domain}`, `v=TLSRPTv1; rua=${tls.map((a) => `mailto:${a}`).join(',')}`, 'tls-rpt');
  }
  return { records, ...(policy ? { mtaStsPolicy: policy } : {}), notes };
}

/** Records as BIND zone-file lines (for `kubemta render` and the docs). */
export function zoneLines(records: DnsRecord[], ttl: number): string[] {
  return records.map((r) => `${r.name}.\t${ttl}\tIN\t${r.type}\t${r.value}`);
}
