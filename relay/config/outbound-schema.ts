// Onward SMTP delivery settings (smtpd.conf `limit mta inet4`, `relay via`, `queue ttl`, `mta limit`).
import { Type } from '@sinclair/typebox';

const strict = { additionalProperties: false } as const;

export const TlsPolicy = Type.Union(
  [Type.Literal('none'), Type.Literal('opportunistic'), Type.Literal('required'), Type.Literal('verify')],
  { description: 'none: never STARTTLS. opportunistic: STARTTLS when offered. required: STARTTLS or defer. verify: STARTTLS with a valid certificate for the host name, or defer.' },
);

export const OutboundSchema = Type.Object(
  {
    family: Type.Union([Type.Literal('inet4'), Type.Literal('inet6'), Type.Literal('any')], { default: 'any', description: 'Address family for outbound connections (smtpd.conf `limit mta inet4`).' }),
    heloName: Type.Optional(Type.String({ description: 'EHLO name; default: the relay hostname.' })),
    port: Type.Integer({ minimum: 1, maximum: 65535, default: 25, description: 'Port of MX hosts (tests point it elsewhere).' }),
    resolver: Type.Optional(
      Type.Object({ servers: Type.Array(Type.String(), { minItems: 1, description: 'DNS servers, "address" or "address:port".' }) }, strict),
    ),
    tls: Type.Union([Type.Literal('none'), Type.Literal('opportunistic'), Type.Literal('required'), Type.Literal('verify')], { default: 'opportunistic', description: TlsPolicy.description }),
    smarthost: Type.Optional(Type.String({ description: 'Send all onward mail through this host: smtp://host:port or smtps://host:port.' })),
  },
  { ...strict, default: {} },
);
