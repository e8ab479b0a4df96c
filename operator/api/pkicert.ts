// PkiCert: a certificate and key (`pki NAME …`), from an existing kubernetes.io/tls Secret (cert-manager's,
// say) or self-signed by the operator, which creates and renews the Secret.
import { Type } from '@sinclair/typebox';
import { CommonStatus, DomainPattern, ObjectName } from './fields.ts';
import { defineKind, type KubeObject } from './kind.ts';

export const PkiCertSpec = Type.Object({
  hostnames: Type.Array(DomainPattern(), { minItems: 1, description: 'Names the certificate is for (SNI).' }),
  secretName: Type.Optional(ObjectName({ description: 'An existing kubernetes.io/tls Secret (tls.crt, tls.key). Exactly one of secretName and selfSigned.' })),
  selfSigned: Type.Optional(
    Type.Object(
      {
        validityDays: Type.Integer({ minimum: 1, maximum: 825, default: 90 }),
        renewBeforeDays: Type.Integer({ minimum: 1, default: 30, description: 'Renew when the certificate expires within this many days.' }),
        keySize: Type.Integer({ minimum: 2048, maximum: 4096, default: 2048, description: 'RSA key size.' }),
      },
      { description: 'The operator creates and renews the Secret <name>-tls (RSA). For tests and demos.' },
    ),
  ),
});

export const PkiCertStatus = Type.Object({
  ...CommonStatus,
  secretName: Type.Optional(Type.String()),
  notBefore: Type.Optional(Type.String({ format: 'date-time' })),
  notAfter: Type.Optional(Type.String({ format: 'date-time' })),
  renewalTime: Type.Optional(Type.String({ format: 'date-time' })),
  hostnames: Type.Optional(Type.Array(Type.String(), { description: 'Names found in the certificate.' })),
  names: Type.Optional(Type.String({ description: 'spec.hostnames, comma-separated, for kubectl get.' })),
});

export const PkiCertKind = defineKind({
  kind: 'PkiCert',
  plural: 'pkicerts',
  singular: 'pkicert',
  shortNames: ['pki'],
  description: 'A certificate and key for Listeners (`pki NAME cert … key …`).',
  spec: PkiCertSpec,
  status: PkiCertStatus,
  columns: [
    { name: 'Hostnames', type: 'string', jsonPath: '.status.names' },
    { name: 'Secret', type: 'string', jsonPath: '.status.secretName' },
    { name: 'NotAfter', type: 'string', jsonPath: '.status.notAfter' },
  ],
});

export type PkiCert = KubeObject<typeof PkiCertSpec, typeof PkiCertStatus>;
