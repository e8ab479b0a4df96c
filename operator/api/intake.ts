// MailServer.spec.authentication and .filter (checks on intake, before the 250) and a Listener's
// overrides of them. The relay's schema (relay/config/intake-schema.ts) says what each field does; these
// are the fields a cluster user sets, rendered into it by operator/render/relay-config.ts.
import { Type } from '@sinclair/typebox';
import { Quantity, StringEnum, StringMap } from './fields.ts';
import { DMARC_ACTIONS, FILTER_FAILURE_ACTIONS } from '../../relay/config/index.ts';

const dmarcReject = (options = {}) =>
  StringEnum(DMARC_ACTIONS, { description: 'A mail failing DMARC under p=reject: none (results only), mark (X-Spam-Flag: YES), reject (550 5.7.1).', ...options });
const dmarcQuarantine = (options = {}) =>
  StringEnum(DMARC_ACTIONS, { description: 'A mail failing DMARC under p=quarantine: none, mark (X-Spam-Flag: YES), reject.', ...options });
const onFailure = (options = {}) =>
  StringEnum(FILTER_FAILURE_ACTIONS, { description: 'The filter did not answer in time: tempfail (451 4.7.1) or accept (marked X-Kubemta-Filter: unavailable).', ...options });

export const AuthenticationSpec = Type.Object(
  {
    enabled: Type.Boolean({ default: true }),
    dmarcReject: dmarcReject({ default: 'none' }),
    dmarcQuarantine: dmarcQuarantine({ default: 'none' }),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 300, default: 20, description: 'All checks of one mail together.' }),
    dnsServers: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'DNS servers for the checks ("address" or "address:port"); the pod\'s resolver when absent.' })),
  },
  {
    description:
      'SPF, DKIM, DMARC and ARC of every mail not sent over an authenticated session, reported in one Authentication-Results header (authserv-id: the listener\'s hostname); forged ones with that id are removed. Off when absent.',
  },
);

export const FilterSpec = Type.Object(
  {
    url: Type.Optional(Type.String({ pattern: '^https?://', description: 'An rspamd normal worker reachable from the pod, e.g. http://rspamd.mail.svc:11333.' })),
    serviceRef: Type.Optional(
      Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 63, pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$' }),
          port: Type.Integer({ minimum: 1, maximum: 65535, default: 11333 }),
        },
        { description: 'An existing Service in the MailServer\'s namespace in front of rspamd.' },
      ),
    ),
    sidecar: Type.Optional(
      Type.Object(
        {
          image: Type.String({ minLength: 1, description: 'An rspamd image whose default command starts rspamd with its normal worker on port 11333.' }),
          imagePullPolicy: StringEnum(['Always', 'IfNotPresent', 'Never'] as const, { default: 'IfNotPresent' }),
          resources: Type.Optional(Type.Object({ limits: Type.Optional(StringMap(Quantity())), requests: Type.Optional(StringMap(Quantity())) })),
        },
        { description: 'Run rspamd in the relay\'s pod (reached on 127.0.0.1:11333), under the same restricted security context.' },
      ),
    ),
    timeoutSeconds: Type.Integer({ minimum: 1, maximum: 300, default: 15 }),
    onFailure: onFailure({ default: 'tempfail' }),
  },
  { description: 'A content filter (rspamd over HTTP) every mail passes before the 250: exactly one of url, serviceRef and sidecar.' },
);

export const ListenerIntakeSpec = Type.Object(
  {
    authentication: Type.Optional(
      Type.Object({ enabled: Type.Optional(Type.Boolean()), dmarcReject: Type.Optional(dmarcReject()), dmarcQuarantine: Type.Optional(dmarcQuarantine()) }),
    ),
    filter: Type.Optional(Type.Object({ enabled: Type.Optional(Type.Boolean()), onFailure: Type.Optional(onFailure()) })),
  },
  { description: 'Overrides of the MailServer\'s spec.authentication and spec.filter for mail received here.' },
);

/** Where the relay reaches the filter. */
export const SIDECAR_FILTER_URL = 'http://127.0.0.1:11333';
