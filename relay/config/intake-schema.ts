// Checks on intake, before the 250: SPF/DKIM/DMARC/ARC with an Authentication-Results header (Postfix and
// OpenSMTPD do it with a milter or filter: opendkim, opendmarc, filter-dkimverify) and a content filter
// (rspamd over HTTP: smtpd_milters = inet:rspamd:11332, OpenSMTPD's filter-rspamd). The same fields at the
// top level (defaults) and on a listener (overrides, no defaults of their own), built by one function.
import { Type, type TProperties } from '@sinclair/typebox';
import { DMARC_ACTIONS, FILTER_FAILURE_ACTIONS, literals } from './vocabulary.ts';

const strict = { additionalProperties: false } as const;

/** With defaults: the top level. Without: a listener's overrides (made optional with Type.Partial). */
function fields<T extends TProperties>(withDefaults: boolean, make: (d: <V>(value: V) => { default: V } | object) => T): T {
  return make((value) => (withDefaults ? { default: value } : {}));
}

function authenticationSchema(withDefaults: boolean) {
  return Type.Object(
    fields(withDefaults, (d) => ({
      enabled: Type.Boolean({
        ...d(false),
        description:
          'Check SPF, DKIM, DMARC and ARC (mailauth) of every mail not sent over an authenticated session, add one Authentication-Results header with the listener\'s hostname as authserv-id, and remove any Authentication-Results with that id the message already carries (forged).',
      }),
      dmarcReject: literals(DMARC_ACTIONS, {
        ...d('none'),
        description: 'A mail failing DMARC under p=reject: none (results only), mark (X-Spam-Flag: YES), reject (550 5.7.1 at end of DATA).',
      }),
      dmarcQuarantine: literals(DMARC_ACTIONS, {
        ...d('none'),
        description: 'A mail failing DMARC under p=quarantine: none, mark (X-Spam-Flag: YES, for a Sieve rule or the MUA to file as junk), reject.',
      }),
      timeoutSeconds: Type.Number({ minimum: 0.1, ...d(20), description: 'All checks of one mail together; past it the header says `none (timeout)` and no policy applies.' }),
      dnsServers: Type.Optional(
        Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'DNS servers for the checks, "address" or "address:port"; default outbound.resolver.servers, else the system\'s.' }),
      ),
    })),
    withDefaults ? { ...strict, default: {} } : strict,
  );
}

function filterSchema(withDefaults: boolean) {
  return Type.Object(
    fields(withDefaults, (d) => ({
      enabled: Type.Boolean({ ...d(true), description: 'Hand mail to the filter (a listener sets false to skip it).' }),
      url: Type.Optional(Type.String({ pattern: '^https?://', description: 'rspamd\'s normal worker, e.g. http://127.0.0.1:11333 (POST /checkv2). Absent: no filter.' })),
      timeoutSeconds: Type.Number({ minimum: 0.1, ...d(15), description: 'How long to wait for the verdict.' }),
      onFailure: literals(FILTER_FAILURE_ACTIONS, {
        ...d('tempfail'),
        description: 'The filter timed out or failed: tempfail (451 4.7.1, the client retries) or accept (queued, marked X-Kubemta-Filter: unavailable).',
      }),
      maxBytes: Type.Integer({ minimum: 1024, ...d(20 * 1024 * 1024), description: 'Larger mails are not scanned (rspamd\'s own max_message is 50 MiB).' }),
    })),
    withDefaults ? { ...strict, default: {} } : strict,
  );
}

export const IntakeSchema = Type.Object(
  { authentication: authenticationSchema(true), filter: filterSchema(true) },
  { ...strict, default: { authentication: {}, filter: {} }, description: 'Checks run on every mail before it is answered 250.' },
);

export const IntakeOverrideSchema = Type.Object(
  { authentication: Type.Optional(Type.Partial(authenticationSchema(false))), filter: Type.Optional(Type.Partial(filterSchema(false))) },
  { ...strict, description: 'Overrides of the top-level `intake` for mail received on this listener.' },
);
