// The five kinds, in the order they are documented and generated.
import { MailServerKind } from './mailserver.ts';
import { ListenerKind } from './listener.ts';
import { PkiCertKind } from './pkicert.ts';
import { MailDomainKind } from './maildomain.ts';
import { VirtualUserKind } from './virtualuser.ts';
import type { KindDef } from './kind.ts';

export const kinds = [MailServerKind, ListenerKind, PkiCertKind, MailDomainKind, VirtualUserKind] as const;

export type KindName = (typeof kinds)[number]['kind'];

export const kindByName: ReadonlyMap<string, KindDef> = new Map(kinds.map((k) => [k.kind, k as unknown as KindDef]));
