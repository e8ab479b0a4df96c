// Every resource the operator reads or writes: kubemta's own kinds (group, version and plural from their
// definitions here in operator/api) and the built-in ones the transport defines.
import { CoreResources, type Resource } from '../kube/client.ts';
import { GROUP, VERSION } from './kind.ts';
import { MailServerKind } from './mailserver.ts';
import { ListenerKind } from './listener.ts';
import { PkiCertKind } from './pkicert.ts';
import { MailDomainKind } from './maildomain.ts';
import { VirtualUserKind } from './virtualuser.ts';

function crd<K extends { kind: string; plural: string }>(def: K): Resource {
  return { group: GROUP, version: VERSION, plural: def.plural, kind: def.kind };
}

export const Resources = {
  MailServer: crd(MailServerKind),
  Listener: crd(ListenerKind),
  PkiCert: crd(PkiCertKind),
  MailDomain: crd(MailDomainKind),
  VirtualUser: crd(VirtualUserKind),
  /** external-dns's record set (its crd source): written for MailDomains with spec.dns.publish: external-dns. */
  DNSEndpoint: { group: 'externaldns.k8s.io', version: 'v1alpha1', plural: 'dnsendpoints', kind: 'DNSEndpoint' },
  ...CoreResources,
  // the Prometheus Operator's, when installed (spec.metrics.serviceMonitor)
  ServiceMonitor: { group: 'monitoring.coreos.com', version: 'v1', plural: 'servicemonitors', kind: 'ServiceMonitor' },
} as const satisfies Record<string, Resource>;

export type ResourceName = keyof typeof Resources;
