// What a MailDomain says about its place on the internet: its DKIM keys (generated and rotated by the
// operator), the SPF, DMARC, MTA-STS and TLS-RPT records it publishes, and how the operator checks and
// publishes them. Spread into MailDomainSpec; the records themselves are status (dnsRecords).
import { Type } from '@sinclair/typebox';
import { MailAddress, StringEnum } from './fields.ts';

export const DKIM_ALGORITHMS = ['rsa-2048', 'ed25519', 'both'] as const;
export const DMARC_POLICIES = ['none', 'quarantine', 'reject'] as const;
export const MTA_STS_MODES = ['testing', 'enforce', 'none'] as const;
export const DNS_PUBLISHERS = ['none', 'external-dns'] as const;

/** `90d`, `72h`, `30m`, `5s`: a duration as people write it in YAML (operator/render/durations.ts reads it). */
export const Duration = (options: { default?: string; description: string }) => Type.String({ pattern: '^[0-9]{1,9}(s|m|h|d)$', ...options });

export const DomainDnsSpec = {
  dkim: Type.Object(
    {
      enabled: Type.Optional(
        Type.Boolean({
          description:
            'Sign this domain\'s outbound mail with keys the operator generates. Absent: on when the domain sends mail out (its MailServer relays mail to other domains: spec.outbound.relayFrom allows anyone), off otherwise. A domain keyed in the MailServer\'s spec.outbound.dkim (your own Secret) is signed with that key instead.',
        }),
      ),
      selector: Type.String({
        default: 'kubemta',
        minLength: 1,
        maxLength: 40,
        pattern: '^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$',
        description: 'Prefix of the selectors: keys are published at <selector>-<n>-<rsa|ed25519>._domainkey.<domain>, n counting up with each rotation.',
      }),
      algorithm: StringEnum(DKIM_ALGORITHMS, { default: 'rsa-2048', description: 'rsa-2048 (every receiver verifies it), ed25519 (RFC 8463), or both: two signatures on every mail.' }),
      rotation: Type.Optional(
        Type.Object(
          {
            every: Duration({ description: 'A new key this long after the current one started signing (e.g. 180d).' }),
            publishFor: Duration({
              default: '72h',
              description: 'The new key\'s record is in dnsRecords this long before it signs (with spec.dns.check: this long after the check first saw it), so resolvers have it.',
            }),
            overlap: Duration({ default: '7d', description: 'The old key\'s record stays this long after the switch, so mail signed with it (queued, forwarded) still verifies.' }),
          },
          { description: 'Key rotation; none when absent.' },
        ),
      ),
    },
    { default: {}, description: 'DKIM signing with keys the operator generates into a Secret it owns (RFC 6376).' },
  ),
  spf: Type.Object(
    {
      mechanisms: Type.Optional(
        Type.Array(Type.String({ pattern: '^[-+~?]?(ip4|ip6|a|mx|include|exists|ptr)(:[^\\s]+)?(/[0-9]+)?$' }), {
          description: 'Added after `mx`: the addresses mail really leaves from (a pod\'s egress address is often not the MX\'s), e.g. ip4:203.0.113.7, include:_spf.provider.example.',
        }),
      ),
      all: StringEnum(['~all', '-all', '?all'] as const, { default: '~all', description: 'What SPF says of every other sender (~all: soft fail, the safe start).' }),
    },
    { default: {}, description: 'The SPF record (RFC 7208): `v=spf1 mx <mechanisms> <all>`.' },
  ),
  dmarc: Type.Object(
    {
      policy: StringEnum(DMARC_POLICIES, {
        default: 'none',
        description: 'p=: none reports only and loses no mail while SPF and DKIM settle; move to quarantine, then reject, once the reports show only your own mail.',
      }),
      subdomainPolicy: Type.Optional(StringEnum(DMARC_POLICIES, { description: 'sp=; policy when absent.' })),
      percent: Type.Optional(Type.Integer({ minimum: 0, maximum: 100, description: 'pct=: the share of failing mail the policy applies to.' })),
      reportTo: Type.Optional(Type.Array(MailAddress(), { description: 'rua=: where aggregate reports go. None when absent.' })),
    },
    { default: {}, description: 'The DMARC record (RFC 7489) at _dmarc.<domain>.' },
  ),
  mtaSts: Type.Object(
    {
      mode: StringEnum(MTA_STS_MODES, { default: 'testing', description: 'testing reports TLS failures (TLS-RPT) without refusing; enforce makes senders refuse to deliver without valid TLS to the MX.' }),
      maxAgeSeconds: Type.Integer({ minimum: 86400, maximum: 31557600, default: 604800, description: 'max_age of the policy.' }),
    },
    { default: {}, description: 'MTA-STS (RFC 8461): the _mta-sts TXT record and the policy text (status.mtaStsPolicy) to serve at https://mta-sts.<domain>/.well-known/mta-sts.txt.' },
  ),
  tlsRpt: Type.Object(
    { reportTo: Type.Optional(Type.Array(MailAddress(), { minItems: 1, description: 'rua=: where TLS reports go; postmaster@<domain> when absent.' })) },
    { default: {}, description: 'SMTP TLS reporting (RFC 8460) at _smtp._tls.<domain>.' },
  ),
  dns: Type.Object(
    {
      ttl: Type.Integer({ minimum: 60, maximum: 604800, default: 3600, description: 'TTL of published records.' }),
      check: Type.Optional(
        Type.Object(
          {
            resolver: Type.Optional(Type.String({ pattern: '^(\\[[0-9a-fA-F:.]+\\]|[0-9.]+)(:[0-9]{1,5})?$', description: 'ip:port of the resolver to ask ([ipv6]:port); the cluster\'s (the operator pod\'s resolv.conf) when absent.' })),
            interval: Duration({ default: '10m', description: 'How often the records are checked (30 s after a change, until they match).' }),
          },
          { description: 'Resolve dnsRecords and report the result in the DNSReady condition, naming each record missing or different.' },
        ),
      ),
      publish: StringEnum(DNS_PUBLISHERS, { default: 'none', description: 'external-dns: write dnsRecords as a DNSEndpoint (externaldns.k8s.io/v1alpha1) named <MailDomain>-dns, for external-dns\'s crd source.' }),
    },
    { default: {}, description: 'Checking and publishing dnsRecords.' },
  ),
};

export const DNS_RECORD_TYPES = ['MX', 'TXT'] as const;
export const DNS_PURPOSES = ['mx', 'spf', 'dkim', 'dmarc', 'mta-sts', 'tls-rpt'] as const;

export const DnsRecordSchema = Type.Object({
  name: Type.String({ description: 'Fully qualified, without the final dot.' }),
  type: StringEnum(DNS_RECORD_TYPES),
  value: Type.String({ description: 'Zone-file form: `10 post.example.org.` for MX; TXT as quoted strings of at most 255 octets each.' }),
  purpose: StringEnum(DNS_PURPOSES),
});
