// The words the relay's config and the operator's CRDs share, defined once: each list is the single
// source for the relay schema's literals (relay/config/*schema.ts) and the CRDs' string enums
// (operator/api/), so the two can never disagree on what a listener mode or a TLS policy may be.
import { Type, type SchemaOptions, type TLiteral, type TUnion } from '@sinclair/typebox';

/** Address family (OpenSMTPD's `listen on inet4`, `limit mta inet4`). */
export const FAMILIES = ['inet4', 'inet6', 'any'] as const;
/** How a listener speaks TLS: smtpd.conf's (nothing), `tls`, `tls-require`, `smtps`. */
export const TLS_MODES = ['none', 'starttls', 'starttls-required', 'implicit'] as const;
/** How a host name becomes addresses (Postfix smtp_host_lookup): getaddrinfo, or DNS servers asked directly. */
export const HOST_LOOKUPS = ['native', 'dns'] as const;
/** STARTTLS policy for onward delivery. */
export const TLS_POLICIES = ['none', 'opportunistic', 'required', 'verify'] as const;
/** What an action does with a mail (smtpd.conf's `deliver to mbox|maildir|lmtp`, `relay`). */
export const ACTION_TYPES = ['mbox', 'maildir', 'lmtp', 'relay'] as const;
/** Where local users' mail is stored. */
export const MAILBOX_FORMATS = ['mbox', 'maildir'] as const;
/** The oldest TLS version a listener offers. */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;
/** What an LMTP action sends as RCPT TO: the local mailbox or the final address. */
export const LMTP_RCPT_TO = ['mailbox', 'address'] as const;

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

/** A relay-schema union of literals for one of the lists above (ajv reads it as an enum). */
export function literals<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnion<Literals<T>> {
  return Type.Union(values.map((v) => Type.Literal(v)), options) as unknown as TUnion<Literals<T>>;
}
/** What intake does with a mail whose DMARC check failed under a domain's p=reject or p=quarantine. */
export const DMARC_ACTIONS = ['none', 'mark', 'reject'] as const;
/** What intake does when the content filter does not answer in time (Haraka's defer or accept). */
export const FILTER_FAILURE_ACTIONS = ['tempfail', 'accept'] as const;
