// Where mail for a domain goes (RFC 5321 5.1): its MX hosts by preference (equal preferences shuffled),
// or the domain's own A/AAAA records when it has no MX (the implicit MX), never for a null MX (RFC 7505).
// The resolver is node:dns with its own servers, so a test (or a pod) points it at a DNS server of its choice.
// Smarthost names are resolved here too, natively (getaddrinfo) or by DNS as outbound.hostLookup says.
import { Resolver } from 'node:dns/promises';
import { isIP } from 'node:net';
import { fitsFamily, literalFamilyProblem } from '../config/smarthost.ts';
import type { HOST_LOOKUPS } from '../config/vocabulary.ts';
import { classify, nativeAddresses, type Family, type Lookup } from './resolve.ts';

export type { Family } from './resolve.ts';
export type HostLookup = (typeof HOST_LOOKUPS)[number];

export interface NextHop {
  /** The MX (or smarthost) name: the name a certificate is checked against. */
  host: string;
  preference: number;
  addresses: string[];
}

export type HopResult =
  | { kind: 'found'; hops: NextHop[] }
  /** Permanent: the domain does not exist or takes no mail. `status` is the RFC 3463 code for the DSN. */
  | { kind: 'notfound'; status: string; reason: string }
  | { kind: 'tempfail'; cause: string };

export interface MxOptions {
  servers?: string[];
  timeoutMs: number;
  family: Family;
  /** How long answers are reused; MX records change rarely and every mail would otherwise ask again. */
  cacheMs?: number;
}

/** `[192.0.2.1]` or `[IPv6:2001:db8::1]` (RFC 5321 4.1.3): an address literal, no DNS. */
export function addressLiteral(domain: string): string | undefined {
  const m = /^\[(?:IPv6:)?([^\]]+)\]$/i.exec(domain);
  return m && isIP(m[1]) ? m[1] : undefined;
}

export function shuffleEqualPreferences<T extends { preference: number }>(items: T[], random = Math.random): T[] {
  const tagged = items.map((item) => ({ item, r: random() }));
  tagged.sort((a, b) => a.item.preference - b.item.preference || a.r - b.r);
  return tagged.map((t) => t.item);
}

export class MxResolver {
  readonly resolver: Resolver;
  private readonly family: Family;
  private readonly cacheMs: number;
  private readonly cache = new Map<string, { at: number; result: HopResult }>();
  private readonly hostCache = new Map<string, { at: number; result: Lookup<string[]> }>();

  constructor(opts: MxOptions) {
    this.resolver = new Resolver({ timeout: opts.timeoutMs, tries: 2 });
    if (opts.servers?.length) this.resolver.setServers(opts.servers);
    this.family = opts.family;
    this.cacheMs = opts.cacheMs ?? 60_000;
  }

  private async lookup<T>(fn: () => Promise<T>): Promise<Lookup<T>> {
    try {
      return { kind: 'ok', value: await fn() };
    } catch (err) {
      return classify<T>(err);
    }
  }

  /**
   * A host's addresses in the configured family. IPv4 first with `any`: a broken IPv6 path is common and
   * costs a connect timeout, a missing IPv4 path is rare.
   */
  async addresses(host: string): Promise<Lookup<string[]>> {
    if (isIP(host)) return fitsFamily(host, this.family) ? { kind: 'ok', value: [host] } : { kind: 'none' };
    const families = this.family === 'inet4' ? ['4'] : this.family === 'inet6' ? ['6'] : ['4', '6'];
    const results = await Promise.all(families.map((f) => this.lookup(() => (f === '4' ? this.resolver.resolve4(host) : this.resolver.resolve6(host)))));
    const found = results.flatMap((r) => (r.kind === 'ok' ? r.value : []));
    if (found.length) return { kind: 'ok', value: found };
    const temp = results.find((r) => r.kind === 'tempfail');
    if (temp) return temp;
    return results.every((r) => r.kind === 'nxdomain') ? { kind: 'nxdomain' } : { kind: 'none' };
  }

  /**
   * A smarthost's addresses: each way in `ways` in turn until one finds an address (Postfix's
   * smtp_host_lookup). Cached like MX answers: every mail to the smarthost would otherwise ask again, and
   * getaddrinfo runs on libuv's small thread pool, beside the queue's file operations.
   */
  async hostAddresses(host: string, ways: readonly HostLookup[]): Promise<Lookup<string[]>> {
    if (isIP(host)) return this.addresses(host);
    const key = `${ways.join(',')} ${host.toLowerCase()}`;
    const cached = this.hostCache.get(key);
    if (cached && Date.now() - cached.at < this.cacheMs) return cached.result;
    const results: Lookup<string[]>[] = [];
    for (const way of ways) {
      const r = way === 'native' ? await nativeAddresses(host, this.family) : await this.addresses(host);
      results.push(r);
      if (r.kind === 'ok') break;
    }
    const result = results.find((r) => r.kind === 'ok') ?? results.find((r) => r.kind === 'tempfail') ?? results.at(-1)!;
    if (result.kind !== 'tempfail') this.hostCache.set(key, { at: Date.now(), result });
    return result;
  }

  async resolveDomain(domain: string): Promise<HopResult> {
    const key = domain.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && Date.now() - cached.at < this.cacheMs) return cached.result;
    const result = await this.resolveUncached(key);
    if (result.kind !== 'tempfail') this.cache.set(key, { at: Date.now(), result });
    return result;
  }

  private async resolveUncached(domain: string): Promise<HopResult> {
    const literal = addressLiteral(domain);
    if (literal) {
      // a config matter (outbound.family), not the recipient's: wait for it to be fixed
      const problem = literalFamilyProblem(literal, this.family);
      if (problem) return { kind: 'tempfail', cause: `address literal ${domain}: ${problem}` };
      return { kind: 'found', hops: [{ host: literal, preference: 0, addresses: [literal] }] };
    }
    const mx = await this.lookup(() => this.resolver.resolveMx(domain));
    if (mx.kind === 'tempfail') return { kind: 'tempfail', cause: `MX lookup for ${domain}: ${mx.cause}` };
    if (mx.kind === 'nxdomain') return { kind: 'notfound', status: '5.1.2', reason: `domain ${domain} does not exist` };
    if (mx.kind === 'none') {
      const own = await this.addresses(domain);
      if (own.kind === 'ok') return { kind: 'found', hops: [{ host: domain, preference: 0, addresses: own.value }] };
      if (own.kind === 'tempfail') return { kind: 'tempfail', cause: `address lookup for ${domain}: ${own.cause}` };
      return { kind: 'notfound', status: '5.1.2', reason: `domain ${domain} has no MX and no ${this.family === 'any' ? 'A/AAAA' : this.family} record` };
    }
    const records = mx.value.map((r) => ({ host: r.exchange.replace(/\.$/, ''), preference: r.priority }));
    if (records.length === 1 && records[0].host === '') {
      return { kind: 'notfound', status: '5.1.10', reason: `domain ${domain} accepts no mail (null MX, RFC 7505)` };
    }
    const ordered = shuffleEqualPreferences(records.filter((r) => r.host !== ''));
    const looked = await Promise.all(ordered.map(async (r) => ({ ...r, lookup: await this.addresses(r.host) })));
    const hops = looked.flatMap((r) => (r.lookup.kind === 'ok' ? [{ host: r.host, preference: r.preference, addresses: r.lookup.value }] : []));
    if (hops.length) return { kind: 'found', hops };
    // every MX name failed to resolve: a DNS problem that may be fixed, so retry rather than bounce
    const why = looked.map((r) => `${r.host}: ${r.lookup.kind === 'tempfail' ? r.lookup.cause : `no ${this.family} address`}`).join('; ');
    return { kind: 'tempfail', cause: `no usable MX host for ${domain} (${why})` };
  }
}
