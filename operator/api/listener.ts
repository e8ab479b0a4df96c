// Listener: one `listen on …` line. The port is what clients use (the Service port); the relay listens on
// an unprivileged containerPort.
import { Type } from '@sinclair/typebox';
import { CommonStatus, Family, LabelSelector, LocalRef, SecretKeyRef, StringEnum, StringMap } from './fields.ts';
import { defineKind, type KubeObject } from './kind.ts';
import { ListenerRatesSchema, TLS_MODES } from '../../relay/config/index.ts';
import { ListenerIntakeSpec } from './intake.ts';

export const ListenerSpec = Type.Object({
  mailServerRef: LocalRef('The MailServer this listener belongs to.'),
  port: Type.Integer({ minimum: 1, maximum: 65535, description: 'The port clients connect to (Service port): 25, 587, 465.' }),
  containerPort: Type.Optional(
    Type.Integer({ minimum: 1024, maximum: 65535, description: 'The port the relay binds in the pod; default port+10000 below 1024, else port.' }),
  ),
  address: Type.Optional(
    Type.String({ minLength: 1, description: 'Bind address in the pod. 127.0.0.1: only clients in the pod (Listing 1 line 6, mail from localhost); such a listener is never exposed.' }),
  ),
  family: Family({ default: 'any' }),
  hostname: Type.Optional(Type.String({ minLength: 1, description: 'Greeting and EHLO name; default the MailServer\'s hostname.' })),
  tls: Type.Object(
    {
      mode: StringEnum(TLS_MODES, {
        default: 'none',
        description: 'none; starttls (`tls`); starttls-required (`tls-require`); implicit (TLS from the first byte, port 465).',
      }),
      pkiCertRef: Type.Optional(LocalRef('The PkiCert served by default (`pki NAME`); SNI chooses among all of the server\'s PkiCerts.')),
    },
    { default: {} },
  ),
  auth: Type.Optional(
    Type.Object(
      {
        required: Type.Boolean({ default: true, description: 'Refuse MAIL FROM before AUTH (`auth <table>`); false: AUTH offered but optional.' }),
        users: Type.Optional(LabelSelector({ description: 'VirtualUsers with a login that may authenticate here (by label); all of the server\'s users with a login when absent.' })),
        credentialsSecretRef: Type.Optional(
          SecretKeyRef('credentials', 'An existing credentials file (`user<TAB>hash` lines, as `kubemta encrypt` or `smtpctl encrypt` write them), merged with the users\' logins.'),
        ),
      },
      { description: 'SMTP AUTH (only after TLS).' },
    ),
  ),
  tag: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]+$', maxLength: 63, description: 'Stamped on mail accepted here (`tag remote`), for MailServer.spec.outbound.relayFrom.tags.' })),
  proxyProtocol: Type.Optional(
    Type.Object({ trustedNetworks: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) }, { description: 'Peers that send a PROXY v1/v2 header (load balancers).' }),
  ),
  maxMessageBytes: Type.Optional(Type.Integer({ minimum: 1024 })),
  rates: Type.Optional(ListenerRatesSchema),
  intake: Type.Optional(ListenerIntakeSpec),
  service: Type.Object(
    {
      type: StringEnum(['ClusterIP', 'NodePort', 'LoadBalancer', 'None'] as const, { default: 'ClusterIP', description: 'None: not exposed.' }),
      name: Type.Optional(Type.String({ pattern: '^[a-z]([-a-z0-9]*[a-z0-9])?$', maxLength: 63, description: 'Listeners naming the same Service share it (one load balancer IP); default the MailServer\'s name.' })),
      annotations: Type.Optional(StringMap(Type.String())),
      nodePort: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
      externalTrafficPolicy: Type.Optional(StringEnum(['Cluster', 'Local'] as const, { description: 'Local keeps client addresses (or use proxyProtocol).' })),
    },
    { default: {}, description: 'How the listener is exposed.' },
  ),
});

export const ListenerStatus = Type.Object({
  ...CommonStatus,
  containerPort: Type.Optional(Type.Integer()),
  serviceName: Type.Optional(Type.String()),
});

export const ListenerKind = defineKind({
  kind: 'Listener',
  plural: 'listeners',
  singular: 'listener',
  shortNames: ['mtl'],
  description: 'An SMTP listener of a MailServer (`listen on …`).',
  spec: ListenerSpec,
  status: ListenerStatus,
  columns: [
    { name: 'Server', type: 'string', jsonPath: '.spec.mailServerRef.name' },
    { name: 'Port', type: 'integer', jsonPath: '.spec.port' },
    { name: 'TLS', type: 'string', jsonPath: '.spec.tls.mode' },
    { name: 'Service', type: 'string', jsonPath: '.status.serviceName' },
  ],
});

export type Listener = KubeObject<typeof ListenerSpec, typeof ListenerStatus>;
