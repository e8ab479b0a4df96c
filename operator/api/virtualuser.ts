// VirtualUser: one line of a virtual table (Listing 2: `max@example.org  max.muster@example.org`), or a
// local part for every domain of its MailDomain (Listing 3: `max  max`), with an optional login.
import { Type } from '@sinclair/typebox';
import { CommonStatus, LocalRef, MailAddress, SecretKeyRef, Target } from './fields.ts';
import { defineKind, type KubeObject } from './kind.ts';

export const VirtualUserSpec = Type.Object({
  mailDomainRef: LocalRef('The MailDomain this user belongs to.'),
  address: Type.Optional(MailAddress({ description: 'A full address in one of the MailDomain\'s domains. Exactly one of address and localPart.' })),
  localPart: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[^@\\s]+$', description: 'A local part applied to every domain of the MailDomain.' })),
  mailbox: Type.Optional(Target({ description: 'Deliver to this mailbox (a local user name, resolved through the server\'s aliases).' })),
  forwardTo: Type.Optional(Type.Array(Target(), { description: 'Also (or only) send to these addresses.' })),
  login: Type.Optional(
    Type.Object(
      {
        username: Type.Optional(Type.String({ minLength: 1, pattern: '^[^\\s:]+$', description: 'Default: the address (or localPart).' })),
        passwordHashSecretRef: SecretKeyRef('password', 'A Secret key holding a bcrypt or $6$/$5$ crypt hash (`kubemta encrypt`), never a clear password.'),
      },
      { description: 'Lets the user authenticate on Listeners whose auth.users selects them.' },
    ),
  ),
});

export const VirtualUserStatus = Type.Object({
  ...CommonStatus,
  mailServer: Type.Optional(Type.String()),
  address: Type.Optional(Type.String({ description: 'The address(es) this user receives at, comma-separated, for kubectl get.' })),
});

export const VirtualUserKind = defineKind({
  kind: 'VirtualUser',
  plural: 'virtualusers',
  singular: 'virtualuser',
  shortNames: ['vu'],
  description: 'A mail address (or a local part across a MailDomain) and where its mail goes.',
  spec: VirtualUserSpec,
  status: VirtualUserStatus,
  columns: [
    { name: 'Address', type: 'string', jsonPath: '.status.address' },
    { name: 'Domain', type: 'string', jsonPath: '.spec.mailDomainRef.name' },
    { name: 'Server', type: 'string', jsonPath: '.status.mailServer' },
  ],
});

export type VirtualUser = KubeObject<typeof VirtualUserSpec, typeof VirtualUserStatus>;
