// The relay's configuration schema: the one source of truth. ajv validates with it (and fills the
// defaults it declares), the TypeScript types come from it (Static<>), the docs are generated from it,
// and the operator renders into it. A property with a `default` is listed as required: ajv fills the
// default before checking `required`, so after validation the typed config is complete.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { ActionSchema, RuleSchema } from './rules-schema.ts';
import { OutboundSchema } from './outbound-schema.ts';
import { ListenerRatesSchema, RatesSchema } from './rates-schema.ts';
import { IntakeOverrideSchema, IntakeSchema } from './intake-schema.ts';
import { FAMILIES, literals, TLS_MODES, TLS_VERSIONS } from './vocabulary.ts';

const strict = { additionalProperties: false } as const;

const Name = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]*$', maxLength: 63, description: 'A name other entries refer to.' });
// A host's name as it goes into the greeting, EHLO and Received: (RFC 5321 2.3.5: LDH labels, dots): a
// CR or LF here would split a reply line, so the schema refuses it and `kubemta check` says so too.
const HostName = (description: string) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: '^[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*\\.?$', description });
const Path = Type.String({ minLength: 1, description: 'A file path; relative paths resolve against the config file\'s directory.' });
const Seconds = (def: number, description: string) => Type.Number({ minimum: 0, default: def, description });
const Count = (def: number, description: string) => Type.Integer({ minimum: 1, default: def, description });

export const Family = literals(FAMILIES, {
  description: 'Address family: inet4, inet6 or any (OpenSMTPD\'s `listen on inet4`, `limit mta inet4`).',
});

export const TlsMode = literals(
  TLS_MODES,
  {
    description:
      'none: plaintext only. starttls: STARTTLS offered (smtpd.conf `tls`). starttls-required: nothing but ' +
      'EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before TLS (`tls-require`). implicit: TLS from the first byte (port 465, `smtps`).',
  },
);

export const PkiSchema = Type.Object(
  {
    name: Name,
    cert: Path,
    key: Path,
    hostnames: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'SNI names this certificate answers for; by default the names in the certificate (subject alternative names and CN).',
      }),
    ),
    selfSigned: Type.Boolean({
      default: false,
      description: 'Create a self-signed certificate for `hostnames` at start when cert/key do not exist (demo and tests; never for production).',
    }),
  },
  { ...strict, description: 'A certificate and key (smtpd.conf `pki NAME cert … key …`).' },
);

export const ProxyProtocolSchema = Type.Object(
  {
    trustedNetworks: Type.Array(Type.String(), {
      minItems: 1,
      description: 'Peers (CIDR or address) that must send a PROXY v1/v2 header (load balancers); other peers are plain SMTP clients.',
    }),
  },
  strict,
);

export const ListenerSchema = Type.Object(
  {
    name: Type.Optional(Name),
    address: Type.Optional(Type.String({ description: 'Address to bind; default all addresses of the family (0.0.0.0 for inet4, :: otherwise).' })),
    port: Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port; 0 picks a free one (tests).' }),
    family: literals(FAMILIES, { default: 'any' }),
    hostname: Type.Optional(HostName('Greeting and EHLO name; default: the top-level hostname.')),
    tls: literals(TLS_MODES, { default: 'none', description: TlsMode.description }),
    pki: Type.Optional(Type.String({ description: 'Default certificate (a pki name); SNI picks among all pki entries.' })),
    auth: Type.Optional(
      Type.String({ description: 'A credentials table; AUTH PLAIN/LOGIN against it, only after TLS.' }),
    ),
    authRequired: Type.Boolean({
      default: false,
      description: 'Refuse MAIL FROM until the client authenticated (a submission port).',
    }),
    tag: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', description: 'Stamped on every mail accepted here, for rules.' })),
    proxyProtocol: Type.Optional(ProxyProtocolSchema),
    maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024, description: 'Overrides limits.maxMessageBytes here.' })),
    rates: Type.Optional(ListenerRatesSchema),
    intake: Type.Optional(IntakeOverrideSchema),
  },
  { ...strict, description: 'An SMTP listener (smtpd.conf `listen on …`).' },
);

const TableKinds = Type.Union([
  Type.Literal('credentials'),
  Type.Literal('aliases'),
  Type.Literal('virtual'),
  Type.Literal('domains'),
  Type.Literal('networks'),
]);

export const TableSchema = Type.Object(
  {
    type: TableKinds,
    file: Type.Optional(Path),
    files: Type.Optional(
      Type.Array(Path, {
        minItems: 1,
        description: 'One table kept in several files (read in order, later lines win), e.g. a large table sharded across Secrets.',
      }),
    ),
    caseSensitive: Type.Boolean({
      default: false,
      description: 'Compare local parts case-sensitively (domains never are). Off, as in OpenSMTPD, which lowercases keys.',
    }),
    entries: Type.Optional(
      Type.Union([
        Type.Record(Type.String(), Type.Union([Type.String(), Type.Array(Type.String())])),
        Type.Array(Type.String()),
      ]),
    ),
  },
  {
    ...strict,
    description:
      'A table from a file in the format people keep (aliases, virtual maps, credentials, domain lists) or inline entries.',
  },
);

export const ResolutionSchema = Type.Object(
  {
    subaddressDelimiter: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 1,
        description: 'Sub-addressing: with "+", user+tag@domain resolves as user@domain when no entry names it exactly. Off by default.',
      }),
    ),
    maxDepth: Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Hop limit of a chain of aliases and virtual entries (OpenSMTPD: 10).' }),
    maxTargets: Type.Integer({ minimum: 1, maximum: 100000, default: 1000, description: 'Most addresses and mailboxes one recipient may expand to.' }),
  },
  { ...strict, default: {}, description: 'How aliases and virtual tables expand a recipient.' },
);

export const QueueSchema = Type.Object(
  {
    dir: Type.String({ default: 'state/queue', description: 'The queue directory (the queue PVC).' }),
    fsync: Type.Boolean({ default: true, description: 'fsync files and directories before answering 250. Turn off only for throwaway tests.' }),
    groupCommitMs: Type.Number({
      minimum: 0,
      maximum: 50,
      default: 0,
      description: 'Extra wait to gather more commits into one directory-fsync wave; 0 batches only what is already waiting.',
    }),
    minFreeBytes: Type.Integer({
      minimum: 0,
      default: 64 * 1024 * 1024,
      description: 'Refuse new mail with 452 4.3.1 when the queue filesystem has less free space than this.',
    }),
  },
  { ...strict, default: {} },
);

export const LimitsSchema = Type.Object(
  {
    maxMessageBytes: Type.Integer({ minimum: 1024, default: 35 * 1024 * 1024, description: 'SIZE advertised and enforced (smtpd.conf max-message-size, 35M).' }),
    maxRecipients: Count(100, 'Recipients per message (452 4.5.3 past it).'),
    maxHops: Count(50, 'Received: fields a message may carry, ours included, before it is refused as a loop (554 5.4.6; Postfix hopcount_limit).'),
    maxLineLength: Type.Integer({ minimum: 512, default: 4096, description: 'Longest command line accepted.' }),
    maxCommands: Count(1000, 'Commands per session before it is closed (421 4.7.0).'),
    maxMessagesPerSession: Count(1000, 'Transactions per session.'),
    maxConnections: Count(1000, 'Concurrent sessions in total, across all listeners (421 4.7.0 past it).'),
    maxConnectionsPerClient: Count(50, 'Concurrent sessions per client address, across all listeners (421 4.7.0 past it).'),
    idleTimeoutSeconds: Seconds(300, 'Close a session idle this long (RFC 5321 4.5.3.2: at least 5 minutes).'),
    commandTimeoutSeconds: Seconds(300, 'After each reply, the time the client has to send its next complete command, however it trickles the bytes (421 4.7.0; Postfix smtpd_timeout with smtpd_per_request_deadline). 0: none.'),
    dataTimeoutSeconds: Seconds(600, 'Longest a DATA phase may take (421 4.4.2).'),
    dataMinBytesPerSecond: Type.Integer({
      minimum: 0,
      default: 500,
      description: 'Floor on the DATA rate: the message must arrive within commandTimeoutSeconds plus one second per this many bytes (421 4.7.0; Postfix smtpd_min_data_rate). 0: none.',
    }),
    authFailures: Count(3, 'AUTH attempts per client address, failed within authFailureWindowSeconds or still being checked, before AUTH is refused (421 4.7.0, without checking the password).'),
    authFailuresPerUser: Count(10, 'The same per user name, from any address (stops guessing spread over many addresses; a user name can be kept refused by failing on it).'),
    authFailureWindowSeconds: Seconds(300, 'Window for counting failed AUTH attempts.'),
    greetingDelayMs: Type.Integer({ minimum: 0, maximum: 10000, default: 0, description: 'Wait before the 220 greeting; a client that talks first is refused (early-talker check, like postscreen). 0: greet at once.' }),
    shutdownGraceSeconds: Seconds(30, 'On SIGTERM, how long in-flight sessions may finish.'),
    rates: RatesSchema,
  },
  { ...strict, default: {} },
);

// Mozilla's "intermediate" server profile (ssl-config.mozilla.org, guidelines 5.7): TLS 1.2 only with
// forward-secret AEAD suites (ECDHE/DHE), no RSA key exchange, no CBC; TLS 1.3's suites are all forward
// secret and stay Node's defaults. The client picks among them, as the profile says.
export const MOZILLA_INTERMEDIATE_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305', 'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384', 'DHE-RSA-CHACHA20-POLY1305',
].join(':');

export const TlsSchema = Type.Object(
  {
    ciphers: Type.String({ minLength: 1, default: MOZILLA_INTERMEDIATE_CIPHERS, description: 'OpenSSL cipher list for TLS 1.2 (TLS 1.3 suites by their TLS_ names); default Mozilla "intermediate": forward-secret AEAD suites only.' }),
    minVersion: literals(TLS_VERSIONS, { default: 'TLSv1.2', description: 'Oldest TLS version offered on every listener.' }),
  },
  { ...strict, default: {}, description: 'TLS settings of every listener (STARTTLS and implicit).' },
);

export const LogSchema = Type.Object(
  {
    level: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { ...strict, default: {} },
);

export const HttpSchema = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    address: Type.String({ default: '127.0.0.1', description: 'Bind address; 0.0.0.0 in a pod so the kubelet can probe it.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 8025, description: '/healthz, /readyz and /metrics (0: any free port).' }),
  },
  { ...strict, default: {} },
);

export const ConfigSchema = Type.Object(
  {
    hostname: Type.Optional(HostName('The relay\'s name; default: the machine\'s.')),
    configHash: Type.Optional(Type.String({ minLength: 1, maxLength: 128, description: 'Set by the operator: the hash of what it rendered (this file and its tables). The relay reports the value of the config it serves (header kubemta-config-hash on /readyz and /healthz), so the operator knows the rendered config is loaded.' })),
    pki: Type.Array(PkiSchema, { default: [] }),
    listeners: Type.Array(ListenerSchema, { minItems: 1 }),
    tables: Type.Record(Name, TableSchema, { default: {} }),
    actions: Type.Record(Name, ActionSchema, { default: {}, description: 'Named delivery actions rules refer to.' }),
    rules: Type.Optional(Type.Array(RuleSchema, { description: 'Ordered; the first match decides. Without rules: authenticated sessions relay anywhere, nobody else may send.' })),
    mailStore: Type.String({ default: 'state/mail', description: 'Where mbox and maildir deliveries go (the mail PVC).' }),
    resolution: ResolutionSchema,
    queue: QueueSchema,
    outbound: OutboundSchema,
    intake: IntakeSchema,
    limits: LimitsSchema,
    tls: TlsSchema,
    log: LogSchema,
    http: HttpSchema,
  },
  { ...strict, $id: 'https://kubemta.io/schemas/relay-config.json', title: 'kubemta relay configuration' },
);

export type Config = Static<typeof ConfigSchema>;
export type ListenerConfig = Static<typeof ListenerSchema>;
export type PkiConfig = Static<typeof PkiSchema>;
export type TableConfig = Static<typeof TableSchema>;
export type LimitsConfig = Static<typeof LimitsSchema>;
export type TlsConfig = Static<typeof TlsSchema>;
export type TlsModeName = Static<typeof TlsMode>;
export type FamilyName = Static<typeof Family>;
export type AnySchema = TSchema;
export type RuleConfig = Static<typeof RuleSchema>;
export type ActionConfig = Static<typeof ActionSchema>;
export type OutboundConfig = Static<typeof OutboundSchema>;
export type IntakeConfig = Static<typeof IntakeSchema>;
