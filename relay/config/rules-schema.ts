// Rules and actions: smtpd.conf's `accept from … for … [alias|virtual <table>] deliver to …` and
// `match … action "name"`, as data. Rules are ordered; the first whose `from` and `for` match decides.
import { Type } from '@sinclair/typebox';
import { LMTP_RCPT_TO, literals } from './vocabulary.ts';

const strict = { additionalProperties: false } as const;
const TableRef = Type.String({ description: 'The name of a table in `tables`.' });

export const FromSchema = Type.Union(
  [
    Type.Literal('any'),
    Type.Literal('local'),
    Type.Object({ networks: Type.Array(Type.String(), { minItems: 1 }) }, strict),
    Type.Object({ table: TableRef }, strict),
  ],
  { default: 'local', description: 'Where the mail comes from: any, local (loopback), networks (CIDR list) or a table of networks; default local. smtpd.conf: `from any`, `from local`, `from src <t>`.' },
);

export const ForSchema = Type.Union(
  [
    Type.Literal('any'),
    Type.Literal('local'),
    Type.Object({ domain: Type.Union([Type.String(), Type.Array(Type.String(), { minItems: 1 })]) }, strict),
    Type.Object({ domains: TableRef }, strict),
  ],
  { description: 'Whom it is for: any, local (the relay\'s own names), one or more domains (wildcards allowed) or a domains table. smtpd.conf: `for any`, `for local`, `for domain \'x\'`, `for domain <t>`.' },
);

export const RejectSchema = Type.Object(
  {
    code: Type.Integer({ minimum: 400, maximum: 599, default: 550 }),
    status: Type.String({ pattern: '^[45]\\.\\d{1,3}\\.\\d{1,3}$', default: '5.7.1' }),
    text: Type.String({ default: 'Delivery not authorized' }),
  },
  strict,
);

export const RuleSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    from: FromSchema,
    tag: Type.Optional(Type.String({ description: 'Only mail accepted on a listener with this tag (smtpd.conf `tagged`).' })),
    auth: Type.Optional(
      Type.Union([Type.Boolean(), Type.Array(Type.String(), { minItems: 1 })], {
        description: 'true: only authenticated sessions; a list: only these users (smtpd.conf `from auth`, `auth <users>`).',
      }),
    ),
    for: ForSchema,
    alias: Type.Optional(Type.String({ description: 'Aliases table applied to local parts (smtpd.conf `alias <t>`).' })),
    virtual: Type.Optional(Type.String({ description: 'Virtual table applied to full addresses, @domain catch-alls and bare local parts (smtpd.conf `virtual <t>`).' })),
    action: Type.Optional(Type.String({ description: 'The name of an entry in `actions`.' })),
    reject: Type.Optional(RejectSchema),
  },
  { ...strict, description: 'One rule. Exactly one of action or reject.' },
);

export const ActionSchema = Type.Union(
  [
    Type.Object({ type: Type.Literal('mbox') }, { ...strict, description: 'Append to <mailStore>/mbox/<user> (mboxrd, locked, fsynced).' }),
    Type.Object(
      { type: Type.Literal('maildir') },
      { ...strict, description: 'Deliver into <mailStore>/maildir/<user>/ (tmp → new, fsynced).' },
    ),
    Type.Object(
      {
        type: Type.Literal('lmtp'),
        host: Type.Optional(Type.String()),
        port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
        socket: Type.Optional(Type.String({ description: 'A Unix socket path instead of host/port.' })),
        // Optional, not defaulted: ajv fills no defaults inside a union's branches; absent means 'mailbox'
        rcptTo: Type.Optional(literals(LMTP_RCPT_TO, {
          description: 'What to send in RCPT TO: the resolved local mailbox name (when absent), or the recipient address.',
        })),
      },
      { ...strict, description: 'Hand the mail to an LMTP server (e.g. Dovecot).' },
    ),
    Type.Object(
      {
        type: Type.Literal('relay'),
        smarthost: Type.Optional(Type.String({ description: 'Relay through this host (smtp://host:port, smtps://host:port) instead of MX lookup; overrides outbound.smarthost.' })),
      },
      { ...strict, description: 'Send onward by SMTP (MX lookup, or a smarthost).' },
    ),
  ],
  { description: 'What to do with the mail a rule accepts (smtpd.conf `deliver to mbox|maildir|lmtp`, `relay`, `action "x" …`).' },
);
