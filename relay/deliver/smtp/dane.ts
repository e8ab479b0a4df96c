// DANE for SMTP (RFC 7672), as Postfix's `smtp_tls_security_level = dane`: when a domain's MX RRset, an MX
// host's address records and its TLSA records at `_25._tcp.<host>` are all DNSSEC-authenticated (the
// resolver's AD bit, dnssec.ts), TLS to that host is mandatory and its certificate must match a TLSA record.
// DANE-EE (usage 3) matches the server's own certificate or key, with no name or date checks (RFC 7672
// 3.1.1); DANE-TA (usage 2) matches a certificate of the chain the server presents, which must then sign its
// way down to the server's certificate, valid now and issued to the MX host or the destination domain
// (3.1.2, 3.2.2). PKIX-TA/PKIX-EE (usages 0, 1) are unusable for SMTP (3.1.3). TLSA records without AD
// are ignored; a TLSA lookup that fails makes the host unusable (2.2), so mail waits rather than going out
// unauthenticated.
import { createHash, X509Certificate } from 'node:crypto';
import { checkServerIdentity, type DetailedPeerCertificate } from 'node:tls';
import type { DnssecResolver } from '../dnssec.ts';
import type { Family, NextHop } from '../mx.ts';

export interface Tlsa {
  usage: number;
  selector: number;
  matchingType: number;
  certificate: Buffer;
}

/** What DANE says about one MX host. */
export type DaneHost =
  /** No authenticated TLSA records (or an unsigned MX/address): the destination's usual TLS policy applies. */
  | { kind: 'none'; ignored?: number }
  /** Usable DANE-EE/DANE-TA records: TLS, and a certificate that matches one of them, or no delivery. */
  | { kind: 'dane'; records: Tlsa[] }
  /** Authenticated TLSA records of which none is usable: TLS is mandatory, unauthenticated (RFC 7672 3.1.3). */
  | { kind: 'encrypt' }
  /** The TLSA or address lookup failed: this host may not be used now. */
  | { kind: 'tempfail'; cause: string };

export type DaneHop = NextHop & { dane: DaneHost };

export type DaneResult =
  | { kind: 'found'; hops: DaneHop[]; mxAuthenticated: boolean }
  | { kind: 'tempfail'; cause: string };

const usable = (t: Tlsa) => (t.usage === 2 || t.usage === 3) && (t.selector === 0 || t.selector === 1) && t.matchingType >= 0 && t.matchingType <= 2;

/** `3 1 1`: usage, selector, matching type, as the record is written. */
export function tlsaName(t: Tlsa): string {
  return `${t.usage} ${t.selector} ${t.matchingType}`;
}

export class DaneLookup {
  private readonly dns: DnssecResolver;
  private readonly family: Family;
  private readonly cacheMs: number;
  private readonly cache = new Map<string, { at: number; value: Promise<unknown> }>();

  constructor(dns: DnssecResolver, family: Family, cacheMs = 60_000) {
    this.dns = dns;
    this.family = family;
    this.cacheMs = cacheMs;
  }

  /** A cached answer; failures are not kept, so the next attempt asks again. */
  private cached<T extends { kind: string }>(key: string, fn: () => Promise<T>): Promise<T> {
    const hit = this.cache.get(key);
    if (hit && Date.now() - hit.at < this.cacheMs) return hit.value as Promise<T>;
    const value = fn();
    this.cache.set(key, { at: Date.now(), value });
    void value.then((v) => v.kind === 'tempfail' && this.cache.delete(key));
    return value;
  }

  /** DANE for each MX host of `domain` (the hops mx.ts found); only a signed MX RRset makes it apply at all. */
  async forDomain(domain: string, hops: NextHop[]): Promise<DaneResult> {
    const mx = await this.cached(`mx ${domain}`, () => this.dns.query(domain, 'MX'));
    if (mx.kind === 'tempfail') return { kind: 'tempfail', cause: `DNSSEC lookup of the MX of ${domain}: ${mx.cause}` };
    if (!mx.authenticated) return { kind: 'found', mxAuthenticated: false, hops: hops.map((h) => ({ ...h, dane: { kind: 'none' } })) };
    const looked = await Promise.all(hops.map(async (h) => ({ ...h, dane: await this.forHost(h.host) })));
    return { kind: 'found', mxAuthenticated: true, hops: looked };
  }

  /** The TLSA records of one MX host, if they count (RFC 7672 2.2). */
  forHost(host: string, port = 25): Promise<DaneHost> {
    return this.cached(`tlsa ${host}:${port}`, async (): Promise<DaneHost> => {
      const [address, tlsa] = await Promise.all([
        this.dns.query(host, this.family === 'inet6' ? 'AAAA' : 'A'),
        this.dns.query<Tlsa>(`_${port}._tcp.${host}`, 'TLSA'),
      ]);
      if (address.kind === 'tempfail') return { kind: 'tempfail', cause: address.cause };
      // an MX host whose addresses are not signed gets no DANE (2.2.2): its TLSA records could be anyone's
      if (!address.authenticated) return { kind: 'none' };
      if (tlsa.kind === 'tempfail') return { kind: 'tempfail', cause: tlsa.cause };
      if (tlsa.kind !== 'ok') return { kind: 'none' };
      if (!tlsa.authenticated) return { kind: 'none', ignored: tlsa.value.length };
      const records = tlsa.value.filter(usable);
      return records.length ? { kind: 'dane', records } : { kind: 'encrypt' };
    });
  }
}

function associated(der: Buffer, t: Tlsa): Buffer {
  const data = t.selector === 1 ? new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' }) : der;
  if (t.matchingType === 1) return createHash('sha256').update(data).digest();
  if (t.matchingType === 2) return createHash('sha512').update(data).digest();
  return data;
}

function matches(der: Buffer, t: Tlsa): boolean {
  try {
    return associated(der, t).equals(t.certificate);
  } catch {
    return false;
  }
}

/** The chain as the server presented it, its own certificate first (DER each). */
export function presentedChain(peer: DetailedPeerCertificate): Buffer[] {
  const chain: Buffer[] = [];
  for (let c: DetailedPeerCertificate | undefined = peer; c?.raw && !chain.some((d) => d.equals(c!.raw)); c = c.issuerCertificate) chain.push(c.raw);
  return chain;
}

export type DaneVerdict = { ok: true; record: string } | { ok: false; reason: string };

/**
 * Whether the server's certificate chain satisfies one of the TLSA records. `names`: the reference
 * identifiers for DANE-TA (the MX host, then the destination domain).
 */
export function verifyDane(peer: DetailedPeerCertificate, records: Tlsa[], names: string[], now = new Date()): DaneVerdict {
  const chain = presentedChain(peer);
  if (!chain.length) return { ok: false, reason: 'the server presented no certificate' };
  const problems: string[] = [];
  for (const t of records) {
    if (t.usage === 3) {
      if (matches(chain[0], t)) return { ok: true, record: tlsaName(t) };
      continue;
    }
    const anchor = chain.findIndex((der) => matches(der, t));
    if (anchor < 0) continue;
    const certs = chain.slice(0, anchor + 1).map((der) => new X509Certificate(der));
    const broken = certs.slice(0, -1).findIndex((c, i) => !c.checkIssued(certs[i + 1]) || !c.verify(certs[i + 1].publicKey));
    if (broken >= 0) {
      problems.push(`TLSA ${tlsaName(t)}: certificate ${broken} of the chain is not signed by the next`);
      continue;
    }
    const leaf = certs[0];
    if (now < new Date(leaf.validFrom) || now > new Date(leaf.validTo)) {
      problems.push(`TLSA ${tlsaName(t)}: the server certificate is not valid now (${leaf.validFrom} to ${leaf.validTo})`);
      continue;
    }
    if (!names.some((n) => checkServerIdentity(n, peer) === undefined)) {
      problems.push(`TLSA ${tlsaName(t)}: the server certificate is not issued to ${names.join(' or ')}`);
      continue;
    }
    return { ok: true, record: tlsaName(t) };
  }
  const fingerprint = createHash('sha256').update(new X509Certificate(chain[0]).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
  return {
    ok: false,
    reason: problems.length
      ? problems.join('; ')
      : `no TLSA record (${records.map(tlsaName).join(', ')}) matches the certificate chain presented (server key SHA-256 ${fingerprint})`,
  };
}
