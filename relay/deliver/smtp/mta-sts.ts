// MTA-STS (RFC 8461) with mailauth: the policy of a destination domain is fetched (DNS TXT, then HTTPS),
// cached until it expires, and in `enforce` mode narrows the MX hosts to those the policy lists and
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

export class MtaStsCache {
  private readonly known = new Map<string, MTASTSPolicy>();
  private readonly resolver: Resolver;

  constructor(resolver: Resolver) {
    this.resolver = resolver;
  }

  /** The domain's policy applied to its MX hosts. */
  async decide(domain: string, hops: NextHop[]): Promise<StsDecision> {
    const { validateMx } = await loadSts();
    return applyStsPolicy(await this.policy(domain), hops, validateMx);
  }

  private async policy(domain: string): Promise<MTASTSPolicy> {
    const { getPolicy } = await loadSts();
    const known = this.known.get(domain);
    if (known?.expires && new Date(known.expires).getTime() > Date.now() && known.id) return known;
    const res = await getPolicy(domain, known, { resolver: (name: string, type: string) => this.resolver.resolve(name, type) as Promise<string[] | string[][]>, timeout: 15000 });
    if (res.policy) this.known.set(domain, res.policy);
    return res.policy ?? { mode: 'none' };
  }
}
