// Onward SMTP delivery settings (smtpd.conf `limit mta inet4`, `relay via`, `queue ttl`, `mta limit`;
// Postfix smtp_tls_policy_maps, smtp_sasl_password_maps, bounce/delay_warning_time).
import { Type } from '@sinclair/typebox';
import { FAMILIES, HOST_LOOKUPS, literals, TLS_POLICIES } from './vocabulary.ts';

const strict = { additionalProperties: false } as const;
const Path = (description: string) => Type.String({ minLength: 1, description: `${description} Relative paths resolve against the config file's directory.` });
const Seconds = (def: number, description: string) => Type.Number({ minimum: 0, default: def, description });

export const TlsPolicy = literals(
  TLS_POLICIES,
  { description: 'none: never STARTTLS. opportunistic: STARTTLS when offered. required: STARTTLS or defer. verify: STARTTLS with a valid certificate for the host name, or defer.' },
);

export const TlsPolicyEntrySchema = Type.Object(
  {
    domain: Type.String({ minLength: 1, description: 'Destination domain (or smarthost name): `example.net` exactly, `.example.net` or `*.example.net` for its subdomains.' }),
    tls: TlsPolicy,
  },
  { ...strict, description: 'TLS policy for one destination (Postfix smtp_tls_policy_maps).' },
);

export const SmarthostAuthSchema = Type.Object(
  {
    host: Type.String({ minLength: 1, description: 'The smarthost this login is for: `host` or `host:port`, as in the smarthost URL.' }),
    username: Type.String({ minLength: 1 }),
    passwordFile: Path('File holding the password (a mounted Secret); read at each new connection, trailing newline ignored.'),
  },
  { ...strict, description: 'AUTH credentials for a smarthost; sent only over TLS (or to a loopback address).' },
);

export const DkimKeySchema = Type.Object(
  {
    domain: Type.String({ minLength: 1, description: 'Sign mail whose From: header (or, failing that, envelope sender) is in this domain (d=).' }),
    selector: Type.String({ minLength: 1, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$', description: 'DKIM selector (s=): the key is published at <selector>._domainkey.<domain>.' }),
    keyFile: Path('PEM private key (RSA ≥ 1024 bits → rsa-sha256, Ed25519 → ed25519-sha256).'),
    headers: Type.Optional(Type.Array(Type.String(), { description: 'Header fields to sign; default mailauth\'s list (From, To, Subject, Date, Message-ID, …).' })),
  },
  { ...strict, description: 'A DKIM signing key. Several entries for one domain (e.g. RSA and Ed25519) each add a signature.' },
);

export const SrsSchema = Type.Object(
  {
    domain: Type.String({
      minLength: 1,
      description: 'The domain of the rewritten senders (SRS0=…@domain): one this relay receives mail for (its MX), so bounces come back here.',
    }),
    keyFile: Path('Secret keys, one per line: the first signs, every one verifies (add a new key on top to rotate).'),
    maxAgeDays: Type.Integer({ minimum: 1, maximum: 1000, default: 21, description: 'How long a rewritten address is accepted for bounces.' }),
  },
  {
    ...strict,
    description:
      'Sender Rewriting Scheme for forwarded mail (smtpd.conf `srs key`): a copy a table forwards to another domain leaves with the envelope sender SRS0=hash=time=domain=local@<domain>, so the next hop\'s SPF check passes; a bounce to that address is relayed back to the original sender.',
  },
);

// The polite client (OpenSMTPD `limit mta`, Postfix's per-destination settings). Exported as builders so
// the MailServer CRD (operator/api/mailserver.ts) carries the very same fields, defaults and limits.

export const concurrencySchema = (options: { default?: object; description?: string } = {}) =>
  Type.Object(
    {
      total: Type.Integer({ minimum: 1, default: 100, description: 'Outbound connections open at once, in total (Postfix default_process_limit).' }),
      perDestination: Type.Integer({
        minimum: 1,
        default: 20,
        description:
          'Connections open at once to one destination: a recipient domain (all its MX hosts together) or a smarthost (Postfix default_destination_concurrency_limit 20; OpenSMTPD max-conn-per-domain).',
      }),
      initialPerDestination: Type.Integer({
        minimum: 1,
        default: 5,
        description:
          'Connections a destination starts with; each cohort of deliveries that went well adds one, up to perDestination, and a 421 or a destination that takes no connection halves it (Postfix initial_destination_concurrency 5).',
      }),
    },
    { ...strict, description: 'How many outbound connections may be open at once.', ...options },
  );

export const maxMessagesPerConnectionSchema = (options: { default?: number } = {}) =>
  Type.Integer({
    minimum: 1,
    description: 'Transactions on one connection before it is closed and a fresh one opened; default 100 (OpenSMTPD max-mail-per-session 100; Postfix smtp_connection_reuse_count_limit).',
    ...options,
  });

export const retrySchema = (options: { default?: object; description?: string } = {}) =>
  Type.Object(
    {
      minSeconds: Seconds(60, 'First retry delay; doubles per attempt (Postfix minimal_backoff_time). Also the first pause of a throttled destination.'),
      maxSeconds: Seconds(3600, 'Longest retry delay, and longest pause of a throttled destination (Postfix maximal_backoff_time).'),
      greylistSeconds: Seconds(
        300,
        'A recipient deferred with 450 or 451 (greylisting\'s replies) is retried no sooner than this: greylisting servers typically let a sender back in after 1 to 5 minutes.',
      ),
    },
    {
      ...strict,
      description:
        'Backoff after a temporary failure, with ±10% jitter. A destination that answers 421 or takes no connection is paused on this schedule too: no new connection to it until the pause ends.',
      ...options,
    },
  );

export const OutboundSchema = Type.Object(
  {
    family: literals(FAMILIES, { default: 'any', description: 'Address family for outbound connections (smtpd.conf `limit mta inet4`).' }),
    heloName: Type.Optional(Type.String({ description: 'EHLO name; default: the relay hostname.' })),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 25, description: 'Port of MX hosts (tests point it elsewhere).' }),
    resolver: Type.Optional(
      Type.Object(
        {
          servers: Type.Array(Type.String(), { minItems: 1, description: 'DNS servers, "address" or "address:port".' }),
          timeoutSeconds: Type.Number({ minimum: 0.1, default: 5, description: 'Per-query timeout before a retry.' }),
        },
        strict,
      ),
    ),
    hostLookup: Type.Array(literals(HOST_LOOKUPS), {
      minItems: 1,
      uniqueItems: true,
      default: ['native'],
      description:
        'How smarthost names become addresses, tried in order until one finds an address (Postfix smtp_host_lookup). native: getaddrinfo, as every program in the pod resolves (/etc/hosts and hostAliases, resolv.conf search domains and ndots, so a Service\'s short name works). dns: the DNS servers (outbound.resolver, else resolv.conf\'s nameservers) asked directly, no search domains. MX lookups, and the addresses of MX hosts, always use DNS.',
    }),
    tls: literals(TLS_POLICIES, { default: 'opportunistic', description: TlsPolicy.description }),
    tlsPolicies: Type.Array(TlsPolicyEntrySchema, { default: [], description: 'Per-destination TLS policy; the first matching entry wins, otherwise `tls`.' }),
    caFile: Type.Optional(Path('Extra trusted CA certificates (PEM) for `verify`, added to the system roots.')),
    mtaSts: Type.Boolean({ default: false, description: 'Fetch and enforce MTA-STS policies (RFC 8461) for MX deliveries: in `enforce` mode only listed MX hosts, with a verified certificate.' }),
    dane: Type.Boolean({
      default: false,
      description:
        'DANE (RFC 7672) for MX deliveries, as Postfix smtp_tls_security_level = dane: where the MX, the MX host\'s address and its TLSA records (_25._tcp.<host>) are DNSSEC-authenticated (AD bit), TLS is mandatory and the certificate must match a DANE-EE or DANE-TA record, else the mail waits (4.7.5). Needs a validating resolver on a trusted path (outbound.resolver or resolv.conf): its AD bit is trusted. Takes precedence over MTA-STS for hosts with TLSA records.',
    }),
    smarthost: Type.Optional(Type.String({ description: 'Send all onward mail through this host: smtp://host:port or smtps://host:port.' })),
    smarthostAuth: Type.Array(SmarthostAuthSchema, { default: [], description: 'AUTH credentials per smarthost.' }),
    srs: Type.Optional(SrsSchema),
    concurrency: concurrencySchema({ default: {} }),
    connectTimeoutSeconds: Seconds(30, 'TCP connect, per address tried.'),
    greetingTimeoutSeconds: Seconds(60, 'Waiting for the 220 greeting and the TLS handshake.'),
    commandTimeoutSeconds: Seconds(300, 'Waiting for any reply once connected (RFC 5321 4.5.3.2 asks for minutes).'),
    idleSeconds: Seconds(5, 'How long a connection stays open for reuse by the next mail to the same destination.'),
    maxMessagesPerConnection: maxMessagesPerConnectionSchema({ default: 100 }),
    retry: retrySchema({ default: {} }),
    queueLifetimeSeconds: Seconds(4 * 86400, 'A recipient still undelivered this long after the mail arrived fails (4.4.7) and is bounced (smtpd.conf `queue ttl`, Postfix maximal_queue_lifetime).'),
    delayWarningSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Send one "delayed" DSN to the sender when a recipient is still pending this long (Postfix delay_warning_time); off when absent.' })),
    deliveryThread: Type.Boolean({ default: false, description: 'Run onward SMTP delivery on its own thread (a second V8 isolate: ~50 MB more, and more CPU per mail for the hand-over; measured no faster on 2 cores).' }),
    dkim: Type.Array(DkimKeySchema, { default: [], description: 'DKIM signing keys per sender domain.' }),
  },
  { ...strict, default: {} },
);
