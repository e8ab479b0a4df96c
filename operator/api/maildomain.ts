// MailDomain: domains a MailServer accepts mail for and how it delivers it
// (`accept from any for domain 'example.org' virtual <virtusers> deliver to mbox`,
//  `accept from any for domain <domains> virtual <users> deliver to mbox`).
import { Type, type Static } from '@sinclair/typebox';
import { CommonStatus, DomainPattern, LocalRef, StringEnum, Target } from './fields.ts';
import { DomainDnsSpec, DnsRecordSchema } from './domain-dns.ts';
import { defineKind, type KubeObject } from './kind.ts';
import { ACTION_TYPES, LMTP_RCPT_TO } from '../../relay/config/index.ts';

export const MailDomainSpec = Type.Object({
  mailServerRef: LocalRef('The MailServer that accepts mail for these domains.'),
  domains: Type.Array(DomainPattern(), {
    minItems: 1,
    description: 'Domains, wildcards allowed (`*.example.org`, `example.*`; a wildcard top-level domain gets a warning: it matches every registry\'s domain).',
  }),
  delivery: Type.Object(
    {
      type: StringEnum(ACTION_TYPES, { default: 'mbox' }),
      lmtp: Type.Optional(
        Type.Object({
          host: Type.Optional(Type.String({ minLength: 1 })),
          port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
          rcptTo: StringEnum(LMTP_RCPT_TO, { default: 'mailbox' }),
        }),
      ),
      relay: Type.Optional(Type.Object({ smarthost: Type.Optional(Type.String({ pattern: '^smtps?://[^/\\s]+$' })) })),
    },
    { default: {}, description: 'What happens to mail for a user (`deliver to mbox`, maildir, lmtp, relay).' },
  ),
  catchAll: Type.Optional(Target({ description: 'Where mail for unknown users goes (`@example.org catchall@example.org`). Attracts spam.' })),
  postmaster: Type.Optional(Target({ description: 'Where postmaster@ each domain goes, unless a VirtualUser claims it.' })),
  priority: Type.Integer({
    minimum: 0,
    maximum: 1000,
    default: 100,
    description: 'Rule order among the server\'s MailDomains (lower first; then exact domains before wildcards, then name). The first matching rule decides.',
  }),
  ...DomainDnsSpec,
});

export const MailDomainStatus = Type.Object({
  ...CommonStatus,
  users: Type.Optional(Type.Integer()),
  domains: Type.Optional(Type.String({ description: 'spec.domains as one comma-separated string, for kubectl get.' })),
  warnings: Type.Optional(Type.Array(Type.String())),
  dnsRecords: Type.Optional(Type.Array(DnsRecordSchema, { description: 'The DNS records each domain needs (not wildcards), computed from the objects; TXT values in zone-file form, split into 255-octet strings.' })),
  mtaStsPolicy: Type.Optional(Type.String({ description: 'The MTA-STS policy to serve at https://mta-sts.<domain>/.well-known/mta-sts.txt (RFC 8461).' })),
  // flat fields, not an object: the 1.20 API server's server-side apply leaves a removed object as null,
  // which the schema then refuses (seen when a MailDomain's server is deleted)
  dkimSecretName: Type.Optional(Type.String({ description: 'The Secret the operator generated the DKIM keys into (owned by this MailDomain); never the keys themselves.' })),
  dkimSigning: Type.Optional(Type.String({ description: 'The DKIM selectors outbound mail is signed with now, comma-separated.' })),
  dkimPublished: Type.Optional(Type.String({ description: 'Every DKIM selector in dnsRecords (signing, waiting to sign, or retiring), comma-separated.' })),
  dkimNextRotation: Type.Optional(Type.String({ description: 'When the next DKIM key is generated (spec.dkim.rotation.every).' })),
});

export const MailDomainKind = defineKind({
  kind: 'MailDomain',
  plural: 'maildomains',
  singular: 'maildomain',
  shortNames: ['md'],
  description: 'Domains a MailServer accepts mail for, and their delivery.',
  spec: MailDomainSpec,
  status: MailDomainStatus,
  columns: [
    { name: 'Domains', type: 'string', jsonPath: '.status.domains' },
    { name: 'Server', type: 'string', jsonPath: '.spec.mailServerRef.name' },
    { name: 'Users', type: 'integer', jsonPath: '.status.users' },
    { name: 'DKIM', type: 'string', jsonPath: '.status.dkimSigning', priority: 1 },
    { name: 'DNS', type: 'string', jsonPath: '.status.conditions[?(@.type=="DNSReady")].status', priority: 1 },
  ],
});

export type MailDomain = KubeObject<typeof MailDomainSpec, typeof MailDomainStatus>;
export type MailDomainSpecT = Static<typeof MailDomainSpec>;
