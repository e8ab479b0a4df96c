// Resolving a MailDomain's dnsRecords and comparing them with what is published: each record found,
// missing (no such name, or no record of its kind there) or different (what is there instead). TXT
// records are compared by their kind's tag (v=spf1, v=DKIM1, …) and their text joined, with the space
// around `;` ignored (DNS consoles reformat it).
import { Resolver } from 'node:dns/promises';
import type { DnsRecord } from '../render/dns-records.ts';
import { txtText } from '../render/dns-records.ts';

export interface CheckResult {
  missing: DnsRecord[];
  different: { record: DnsRecord; found: string[] }[];
  found: DnsRecord[];
  /** The resolver failed (timeout, SERVFAIL, refused): nothing can be said. */
  error?: string;
}

const TAGS: Record<DnsRecord['purpose'], string> = { mx: '', spf: 'v=spf1', dkim: 'v=DKIM1', dmarc: 'v=DMARC1', 'mta-sts': 'v=STSv1', 'tls-rpt': 'v=TLSRPTv1' };
const NOT_THERE = new Set(['ENOTFOUND', 'ENODATA']);

const normal = (text: string) => text.replace(/\s*;\s*/g, ';').replace(/;$/, '').trim();
const mxText = (pref: number, host: string) => `${pref} ${host.toLowerCase().replace(/\.?$/, '.')}`;

export function makeResolver(server: string | undefined): Resolver {
  const r = new Resolver({ timeout: 3000, tries: 2 });
  if (server) r.setServers([server]);
  return r;
}

async function answers(resolver: Resolver, r: DnsRecord, cache: Map<string, Promise<string[]>>): Promise<string[]> {
  const k = `${r.type} ${r.name}`;
  let p = cache.get(k);
  if (!p) {
    p = r.type === 'MX'
      ? resolver.resolveMx(r.name).then((xs) => xs.map((x) => mxText(x.priority, x.exchange)))
      : resolver.resolveTxt(r.name).then((xs) => xs.map((chunks) => chunks.join('')));
    cache.set(k, p);
  }
  return p.catch((err: NodeJS.ErrnoException) => {
    if (err.code && NOT_THERE.has(err.code)) return [];
    throw err;
  });
}

export async function checkRecords(records: DnsRecord[], resolver: Resolver): Promise<CheckResult> {
  const out: CheckResult = { missing: [], different: [], found: [] };
  const cache = new Map<string, Promise<string[]>>();
  for (const r of records) {
    let got: string[];
    try {
      got = await answers(resolver, r, cache);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      return { ...out, error: `${r.type} ${r.name}: ${e.code ?? e.message}` };
    }
    const want = r.type === 'MX' ? r.value.toLowerCase() : normal(txtText(r.value));
    const tag = TAGS[r.purpose];
    const sameKind = r.type === 'MX' ? got : got.filter((t) => t.toLowerCase().startsWith(tag.toLowerCase()));
    if (sameKind.some((t) => (r.type === 'MX' ? t : normal(t)) === want)) out.found.push(r);
    else if (sameKind.length) out.different.push({ record: r, found: sameKind });
    else out.missing.push(r);
  }
  return out;
}

const short = (t: string) => (t.length > 60 ? `${t.slice(0, 57)}...` : t);

/** The DNSReady message: every record missing or different, by type and name. */
export function describeCheck(r: CheckResult, total: number): string {
  if (r.error) return `could not resolve ${r.error}`;
  const parts: string[] = [];
  if (r.missing.length) parts.push(`missing: ${r.missing.map((x) => `${x.type} ${x.name}`).join(', ')}`);
  if (r.different.length) parts.push(`different: ${r.different.map((x) => `${x.record.type} ${x.record.name} (found ${x.found.map((f) => JSON.stringify(short(f))).join(', ')})`).join(', ')}`);
  return parts.length ? parts.join('; ') : `all ${total} record(s) published`;
}
