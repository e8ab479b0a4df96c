// Per-destination TLS policy (Postfix smtp_tls_policy_maps): the first entry whose domain matches wins,
// `example.net` exactly, `.example.net` or `*.example.net` its subdomains; otherwise outbound.tls.
import type { OutboundConfig } from '../../config/schema.ts';
import type { TlsPolicyName } from './client.ts';

export function domainMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase().replace(/^\*\./, '.');
  const n = name.toLowerCase();
  return p.startsWith('.') ? n.endsWith(p) : n === p;
}

export function tlsPolicyFor(name: string, outbound: OutboundConfig): TlsPolicyName {
  return outbound.tlsPolicies.find((e) => domainMatches(e.domain, name))?.tls ?? outbound.tls;
}

const STRENGTH: Record<TlsPolicyName, number> = { none: 0, opportunistic: 1, required: 2, verify: 3 };

/** The stricter of two policies (MTA-STS can raise a policy, never lower it). */
export function stricter(a: TlsPolicyName, b: TlsPolicyName): TlsPolicyName {
  return STRENGTH[a] >= STRENGTH[b] ? a : b;
}
