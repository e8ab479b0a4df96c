// MTA-STS (RFC 8461) with mailauth: the policy of a destination domain is fetched (DNS TXT, then HTTPS),
// cached until it expires or its id changes, and in `enforce` mode narrows the MX hosts to those the policy lists and
// requires a verified certificate. `testing` mode only logs; fetch failures fall back to no policy, as
// the RFC says (a cached policy keeps applying). mailauth is loaded only when MTA-STS is on (tens of MB).

type Sts = typeof import('mailauth/lib/mta-sts.js');
let sts: Promise<Sts> | undefined;
const loadSts = (): Promise<Sts> => (sts ??= import('mailauth/lib/mta-sts.js'));
import type { Resolver } from 'node:dns/promises';
import type { MTASTSPolicy } from 'mailauth';
import type { NextHop } from '../mx.ts';

export type StsDecision = { kind: 'none' } | { kind: 'enforce'; hops: NextHop[] } | { kind: 'testing'; mismatched: string[] } | { kind: 'nomatch'; mx: string[] };

/** Applies a policy to the MX list: pure, so the rules are tested without HTTPS. */
export function applyStsPolicy(policy: MTASTSPolicy, hops: NextHop[], validateMx: Sts['validateMx']): StsDecision {
  if (policy.mode === 'none') return { kind: 'none' };
  const ok = hops.filter((h) => validateMx(h.host, policy).valid);
  if (policy.mode === 'testing') return { kind: 'testing', mismatched: hops.filter((h) => !ok.includes(h)).map((h) => h.host) };
  if (!ok.length) return { kind: 'nomatch', mx: hops.map((h) => h.host) };
  return { kind: 'enforce', hops: ok };
}

/** Where the policy came from: fetched now, still valid in the cache, or the cache after a failed fetch. */
export interface StsSource {
  status: 'found' | 'renewed' | 'not_found' | 'errored';
  id?: string | false;
  error?: string;
}

export class MtaStsCache {
  private readonly known = new Map<string, MTASTSPolicy>();
  private readonly resolver: Resolver;

  constructor(resolver: Resolver) {
    this.resolver = resolver;
  }

  /** The domain's policy applied to its MX hosts, and how the policy was got (for the log). */
  async decide(domain: string, hops: NextHop[]): Promise<StsDecision & { source: StsSource }> {
    const { validateMx } = await loadSts();
    const { policy, source } = await this.policy(domain);
    return { ...applyStsPolicy(policy, hops, validateMx), source };
  }

  /**
   * RFC 8461 5.1 through mailauth's getPolicy: the TXT record is read on every delivery (one small
   * query); the policy is fetched again only when its id changed or it expired, and a failed fetch keeps
   * the cached policy while it is valid (an attacker who blocks the policy host gains nothing).
   */
  private async policy(domain: string): Promise<{ policy: MTASTSPolicy; source: StsSource }> {
    const { getPolicy } = await loadSts();
    const res = await getPolicy(domain, this.known.get(domain), {
      resolver: (name: string, type: string) => this.resolver.resolve(name, type) as Promise<string[] | string[][]>,
      timeout: 15000,
    });
    const error = (res.policy as { error?: Error }).error?.message;
    if (res.policy.id) this.known.set(domain, res.policy);
    return { policy: res.policy, source: { status: res.status as StsSource['status'], id: res.policy.id, ...(error ? { error } : {}) } };
  }
}
