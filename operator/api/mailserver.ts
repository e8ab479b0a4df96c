// MailServer: one relay instance — its image, volumes, outbound delivery, local aliases and limits.
// Listeners, MailDomains (and through them VirtualUsers) name the MailServer they belong to.
import { Type, type Static } from '@sinclair/typebox';
import { CommonStatus, Family, Quantity, SecretKeyRef, StringEnum, StringMap, Target } from './fields.ts';
import { defineKind, type KubeObject } from './kind.ts';
import { AuthenticationSpec, FilterSpec } from './intake.ts';
import { concurrencySchema, HOST_LOOKUPS, MAILBOX_FORMATS, maxMessagesPerConnectionSchema, retrySchema, ServerRatesOverrideSchema, TLS_POLICIES } from '../../relay/config/index.ts';

const Volume = (what: string) =>
  Type.Object(
    {
      size: Quantity({ default: '1Gi', description: `Requested size of the ${what} volume.` }),
      storageClassName: Type.Optional(Type.String({ description: 'Storage class; the cluster default when absent. Any ReadWriteOnce class works.' })),
      retainOnDelete: Type.Boolean({
        default: true,
        description: `Keep the ${what} PersistentVolumeClaim when the MailServer is deleted (mail is data). false: owned, so garbage-collected with it.`,
      }),
    },
    { default: {}, description: `The ${what} volume (a PersistentVolumeClaim).` },
  );

export const OutboundSpec = Type.Object(
  {
    family: Family({ default: 'any', description: 'Address family for onward delivery (Listing 1 line 7: `limit mta inet4`).' }),
    heloName: Type.Optional(Type.String({ minLength: 1, description: 'EHLO name for onward delivery; default spec.hostname.' })),
    smarthost: Type.Optional(Type.String({ pattern: '^smtps?://[^/\\s]+$', description: 'Send all onward mail through smtp://host:port or smtps://host:port instead of MX lookup.' })),
    smarthostAuth: Type.Optional(
      Type.Object(
        { username: Type.String({ minLength: 1 }), passwordSecretRef: SecretKeyRef('password', 'The Secret key holding the smarthost password.') },
        { description: 'AUTH for the smarthost (sent only over TLS).' },
      ),
    ),
    tls: StringEnum(TLS_POLICIES, { default: 'opportunistic', description: 'STARTTLS policy for onward delivery.' }),
    tlsPolicies: Type.Optional(
      Type.Array(
        Type.Object({ domain: Type.String({ minLength: 1 }), tls: StringEnum(TLS_POLICIES) }),
        { description: 'Per-destination TLS policy; the first match wins.' },
      ),
    ),
    mtaSts: Type.Boolean({ default: false, description: 'Enforce MTA-STS policies (RFC 8461).' }),
    concurrency: Type.Optional(concurrencySchema({ description: 'Outbound connections at once, in all and per destination (the relay\'s outbound.concurrency); its defaults when absent.' })),
    maxMessagesPerConnection: Type.Optional(maxMessagesPerConnectionSchema()),
    retry: Type.Optional(retrySchema({ description: 'Retry backoff, pauses of throttled destinations and the greylisting delay (the relay\'s outbound.retry); its defaults when absent.' })),
    dane: Type.Boolean({
      default: false,
      description: 'DANE (RFC 7672) for MX delivery: where the MX, address and TLSA records are DNSSEC-authenticated (the resolver\'s AD bit), TLS is mandatory and the certificate must match them, else the mail waits (4.7.5). Needs a validating resolver for the pod.',
    }),
    hostLookup: Type.Optional(
      Type.Array(StringEnum(HOST_LOOKUPS), {
        minItems: 1,
        description: 'How the smarthost name becomes addresses, tried in order (Postfix smtp_host_lookup): native (the pod\'s resolver: hostAliases, search domains, so `smtp://relay.mail` works) or dns (DNS servers asked directly). The relay\'s default: [native].',
      }),
    ),
    dkim: Type.Optional(
      Type.Array(
        Type.Object({
          domain: Type.String({ minLength: 1 }),
          selector: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }),
          privateKeySecretRef: SecretKeyRef('private.key', 'The Secret key holding the PEM private key (RSA or Ed25519).'),
        }),
        { description: 'DKIM signing keys per sender domain.' },
      ),
    ),
    srs: Type.Optional(
      Type.Object(
        {
          domain: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 253,
              pattern: '^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$',
              description: 'The domain of the rewritten senders (SRS0=…@domain); its MX must be this MailServer, so bounces come back. Default spec.hostname.',
            }),
          ),
          keySecretRef: SecretKeyRef('keys', 'The Secret key holding the SRS secrets, one per line: the first signs, every one verifies (put a new key on top to rotate, drop the old one after maxAgeDays).'),
          maxAgeDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'How long a rewritten address is accepted for bounces; the relay\'s default (21) when absent.' })),
        },
        {
          description:
            'Sender Rewriting Scheme for forwarded mail (smtpd.conf `srs key`): a copy a VirtualUser or alias forwards to another domain leaves with the envelope sender SRS0=…@domain, so the next hop\'s SPF check passes; bounces to that address are relayed back to the original sender.',
        },
      ),
    ),
    relayFrom: Type.Object(
      {
        authenticated: Type.Boolean({ default: true, description: 'Authenticated sessions may send anywhere (`accept from any auth for any relay`).' }),
        tags: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_.-]+$' }), { description: 'Mail accepted on Listeners with these tags may go anywhere (`accept tagged remote for any relay`).' })),
        networks: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Client networks (CIDR) that may send anywhere without AUTH. Keep it short: an open relay is a spam source.' })),
      },
      { default: {}, description: 'Who may send mail to other domains. Mail for the MailServer\'s own domains is decided by MailDomains.' },
    ),
  },
  { default: {}, description: 'Onward delivery by SMTP.' },
);

export const LocalSpec = Type.Object(
  {
    aliases: Type.Optional(
      StringMap(Type.Array(Target(), { minItems: 1 }), {
        description: 'Aliases for local users (`accept for local alias <aliases> deliver to mbox`): name → mailboxes or addresses.',
      }),
    ),
    delivery: StringEnum(MAILBOX_FORMATS, { default: 'mbox', description: 'How mail for local users is stored.' }),
  },
  { description: 'Mail for the server itself (`for local`), from pod-local clients (a Listener bound to 127.0.0.1).' },
);

export const MailServerSpec = Type.Object({
  image: Type.String({ minLength: 1, default: 'kubemta.local/kubemta:0.1.0', description: 'The kubemta image (runs `kubemta relay`).' }),
  imagePullPolicy: StringEnum(['Always', 'IfNotPresent', 'Never'] as const, { default: 'IfNotPresent' }),
  replicas: Type.Integer({
    minimum: 1,
    maximum: 50,
    default: 1,
    description: '1: a Deployment (Recreate). More: a StatefulSet with one queue volume per replica (deliver by lmtp or relay then: each replica has its own mail store).',
  }),
  hostname: Type.String({ minLength: 1, maxLength: 253, description: 'The relay\'s name (greeting and EHLO), e.g. post.example.org.' }),
  queue: Volume('queue'),
  mailStore: Volume('mail store'),
  drainedQueueClaims: StringEnum(['Retain', 'Delete'] as const, {
    default: 'Retain',
    description:
      'A queue claim left by a scale-down (a replica\'s ordinal now >= replicas, or the other workload kind\'s claim) is drained by a Job that delivers its mail; once the Job found it empty: Retain keeps the claim (marked kubemta.io/drained, reused if the replica comes back), Delete deletes it. Mail claims are always kept.',
  }),
  outbound: OutboundSpec,
  local: Type.Optional(LocalSpec),
  authentication: Type.Optional(AuthenticationSpec),
  filter: Type.Optional(FilterSpec),
  limits: Type.Optional(
    Type.Object(
      {
        maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
        maxRecipients: Type.Optional(Type.Integer({ minimum: 1 })),
        maxConnections: Type.Optional(Type.Integer({ minimum: 1 })),
        maxConnectionsPerClient: Type.Optional(Type.Integer({ minimum: 1 })),
        idleTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1 })),
        queueLifetimeSeconds: Type.Optional(Type.Integer({ minimum: 60 })),
        rates: Type.Optional(ServerRatesOverrideSchema),
      },
      { description: 'Session and queue limits; the relay\'s defaults when absent.' },
    ),
  ),
  subaddressDelimiter: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 1,
      description: 'Sub-addressing (smtpd.conf `smtp sub-addr-delim`): with "+", user+tag@domain resolves as user@domain when no entry names it exactly. Off when absent.',
    }),
  ),
  tableShards: Type.Integer({
    minimum: 1,
    maximum: 64,
    default: 4,
    description: 'Secrets the tables (virtual users, credentials, aliases) are spread over, at least, each under the 1 MiB object limit. When the tables outgrow them the operator uses more (status.tableShards, up to 64). Changing the number in use restarts the relay once.',
  }),
  logLevel: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const, { default: 'info' }),
  resources: Type.Optional(
    Type.Object(
      { limits: Type.Optional(StringMap(Quantity())), requests: Type.Optional(StringMap(Quantity())) },
      { description: 'The relay container\'s resources.' },
    ),
  ),
  nodeSelector: Type.Optional(StringMap(Type.String())),
  metrics: Type.Optional(
    Type.Object(
      {
        serviceMonitor: Type.Optional(
          Type.Object(
            {
              enabled: Type.Boolean({ default: false, description: 'Render a ServiceMonitor (monitoring.coreos.com/v1, the Prometheus Operator) for the relay\'s metrics Service <name>-metrics.' }),
              interval: Type.Optional(Type.String({ pattern: '^([0-9]+(ms|s|m|h))+$', description: 'Scrape interval, e.g. 30s; the Prometheus default when absent.' })),
              labels: Type.Optional(StringMap(Type.String(), { description: 'Labels for the ServiceMonitor, so that a Prometheus\'s serviceMonitorSelector picks it (e.g. release: prometheus).' })),
            },
            { description: 'When the ServiceMonitor kind is not installed, the MailServer says so (status.warnings, a Warning event) and serves on.' },
          ),
        ),
      },
      { description: 'How Prometheus finds the relay\'s /metrics (port 8025, Service <name>-metrics).' },
    ),
  ),
});

export const MailServerStatus = Type.Object({
  ...CommonStatus,
  workload: Type.Optional(Type.String({ description: 'Deployment/NAME or StatefulSet/NAME.' })),
  listeners: Type.Optional(Type.Integer()),
  domains: Type.Optional(Type.Integer()),
  users: Type.Optional(Type.Integer()),
  warnings: Type.Optional(Type.Array(Type.String(), { description: 'Problems that do not stop mail, e.g. a ServiceMonitor asked for whose kind is not installed.' })),
  configHash: Type.Optional(Type.String({ description: 'Hash of the relay config rendered (its configHash field); Ready once every relay reports serving it.' })),
  tablesHash: Type.Optional(Type.String({ description: 'Digest of the table files rendered (relay/lookup/table-digest.ts); Ready once every relay reports serving it.' })),
  tableShards: Type.Optional(Type.Integer({ description: 'Table Secrets in use: spec.tableShards, or more when the tables need them (about 75 % full after each step; kept until they would fill less than half of spec.tableShards).' })),
  replicas: Type.Optional(Type.Integer({ description: 'Relay replicas desired.' })),
  readyReplicas: Type.Optional(Type.Integer({ description: 'Relay replicas ready (the workload\'s status).' })),
  relays: Type.Optional(Type.String({ description: 'READY/DESIRED relay replicas, for kubectl get.' })),
  selector: Type.Optional(Type.String({ description: 'The relay pods\' label selector (the scale subresource\'s, for a HorizontalPodAutoscaler).' })),
  drains: Type.Optional(
    Type.Array(
      Type.Object({
        claim: Type.String({ description: 'The queue claim left by a scale-down.' }),
        phase: StringEnum(['Waiting', 'Running', 'Failed', 'Drained'] as const, {
          description: 'Waiting: a pod still uses the claim; Running: the drain Job delivers its mail; Failed: the Job gave up (see its pod\'s log); Drained: found empty (kept under drainedQueueClaims: Retain).',
        }),
        job: Type.Optional(Type.String({ description: 'The drain Job.' })),
        remaining: Type.Optional(Type.Integer({ description: 'Mails still in the claim\'s queue, as the drain reports (kubemta_queue_messages).' })),
        message: Type.Optional(Type.String()),
      }),
      { description: 'Queues of replicas removed by a scale-down, and their drain (the server stays Ready while it serves).' },
    ),
  ),
  draining: Type.Optional(Type.String({ description: 'A summary of drains in progress, for kubectl get: `2 claim(s), 7 mail(s) left`.' })),
});

export const MailServerKind = defineKind({
  kind: 'MailServer',
  plural: 'mailservers',
  singular: 'mailserver',
  shortNames: ['ms'],
  description: 'A kubemta relay: the Deployment (or StatefulSet), its config, volumes and Services.',
  spec: MailServerSpec,
  status: MailServerStatus,
  columns: [
    { name: 'Hostname', type: 'string', jsonPath: '.spec.hostname' },
    { name: 'Relays', type: 'string', jsonPath: '.status.relays' },
    { name: 'Users', type: 'integer', jsonPath: '.status.users' },
    { name: 'Draining', type: 'string', jsonPath: '.status.draining', priority: 1 },
  ],
  // `kubectl scale ms/post --replicas 3`, and a HorizontalPodAutoscaler on the MailServer (docs/scaling.md)
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
});

export type MailServer = KubeObject<typeof MailServerSpec, typeof MailServerStatus>;
export type MailServerSpecT = Static<typeof MailServerSpec>;
