// What the DNS check (dns-records.ts) hands to the other controllers, by MailDomain `ns/name`: the
// DNSReady condition the MailDomain's status carries, and the DKIM selectors whose records it saw
// published (a rotation waits for them: dkim-keys.ts).
export const DNS_READY = 'DNSReady';

export interface DnsCondition {
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface DomainDnsState {
  conditions: Map<string, DnsCondition>;
  seenSelectors: Map<string, Set<string>>;
  /** Digest of the records last checked, and when the next check is due. */
  checked: Map<string, { digest: string; dueAt: number }>;
  /** Digest of the DNSEndpoint last written. */
  published: Map<string, string>;
}

export function emptyDomainDnsState(): DomainDnsState {
  return { conditions: new Map(), seenSelectors: new Map(), checked: new Map(), published: new Map() };
}
