// Rate limits (connections and messages per client network, messages and recipients per sender), in
// the relay's `limits.rates` with per-listener overrides (`listeners[].rates`, merged field by field over
// it). Every limit is off when absent (Postfix's anvil limits are 0 by default too); docs suggest values.
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;
const Limit = (description: string) => Type.Optional(Type.Integer({ minimum: 1, description }));

// The windows and prefixes with their defaults (limits.rates) or without (a listener's override: a
// default filled in there would hide the server-wide value it does not mean to change).
const clientWindow = Type.Number({ minimum: 0.1, maximum: 86400, description: 'The client window (default 60): counting starts at a client\'s first connection and resets this long after it.' });
const ipv4Prefix = Type.Integer({ minimum: 8, maximum: 32, description: 'IPv4 clients count together per network of this prefix length (default 32: per address).' });
const ipv6Prefix = Type.Integer({ minimum: 16, maximum: 128, description: 'IPv6 clients count together per network of this prefix length (default 64: one host can hold a whole /64).' });
const senderWindow = Type.Number({ minimum: 0.1, maximum: 86400 * 7, description: 'The sender window (default 3600): counting starts at a sender\'s first message and resets this long after it.' });
const defaulted = <T extends TSchema>(schema: T, def: number): T => ({ ...schema, default: def });

const clientLimits = {
  connections: Limit('SMTP connections one client network may open per window (421 4.7.0 past it). Off when absent.'),
  messages: Limit('Messages (MAIL FROM commands admitted) one client network may start per window (450 4.7.1 past it). Off when absent.'),
};
const senderLimits = {
  messages: Limit('Messages one sender may start per window (450 4.7.1 past it). Off when absent.'),
  recipients: Limit('Recipients (RCPT TO commands, counted before the recipient is looked up) one sender may give per window (450 4.7.1 past it). Off when absent.'),
};

const CLIENT = 'Per client network (the address masked to ipv4Prefix / ipv6Prefix).';
const SENDER = 'Per sender: the authenticated user, or else the domain of MAIL FROM (the null sender <> is counted per client only).';

export const RatesSchema = Type.Object(
  {
    client: Type.Object(
      { ...clientLimits, windowSeconds: defaulted(clientWindow, 60), ipv4Prefix: defaulted(ipv4Prefix, 32), ipv6Prefix: defaulted(ipv6Prefix, 64) },
      { ...strict, default: {}, description: CLIENT },
    ),
    sender: Type.Object({ ...senderLimits, windowSeconds: defaulted(senderWindow, 3600) }, { ...strict, default: {}, description: SENDER }),
    maxTracked: Type.Integer({
      minimum: 100,
      maximum: 10_000_000,
      default: 100_000,
      description: 'Most clients and senders counted at once, so memory stays bounded under a flood of distinct addresses: past it the oldest windows are forgotten first.',
    }),
  },
  { ...strict, default: {}, description: 'Rate limits, per replica (each relay counts what it sees).' },
);

/** A listener's override of `limits.rates`, field by field; its counts are kept apart from the others'. */
export const ListenerRatesSchema = Type.Object(
  {
    client: Type.Optional(
      Type.Object(
        { ...clientLimits, windowSeconds: Type.Optional(clientWindow), ipv4Prefix: Type.Optional(ipv4Prefix), ipv6Prefix: Type.Optional(ipv6Prefix) },
        { ...strict, description: CLIENT },
      ),
    ),
    sender: Type.Optional(Type.Object({ ...senderLimits, windowSeconds: Type.Optional(senderWindow) }, { ...strict, description: SENDER })),
  },
  { ...strict, description: 'Overrides limits.rates here, field by field; this listener\'s counts are kept apart from the other listeners\'.' },
);

/** The MailServer's `spec.limits.rates` (operator/api): the listener override's fields plus the table cap, all optional. */
export const ServerRatesOverrideSchema = Type.Object(
  { ...ListenerRatesSchema.properties, maxTracked: Type.Optional(Type.Integer({ minimum: 100, maximum: 10_000_000, description: RatesSchema.properties.maxTracked.description })) },
  { ...strict, description: 'Rate limits per client network and per sender, each relay counting what it sees; the relay\'s defaults when absent (every limit off).' },
);

export type RatesConfig = Static<typeof RatesSchema>;
export type ListenerRatesConfig = Static<typeof ListenerRatesSchema>;
