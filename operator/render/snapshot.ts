// What render() reads and what it says about each object. Pure data: the operator fills a Snapshot from
// its caches, `kubemta render -f` from files.
import type { MailServer } from '../api/mailserver.ts';
import type { Listener } from '../api/listener.ts';
import type { PkiCert } from '../api/pkicert.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { VirtualUser } from '../api/virtualuser.ts';
import type { Validation } from '../api/validate.ts';
import { relayReadsTableParts } from './table-shards.ts';

/** A Secret as render needs it: name and decoded data. Its content never leaves render except into tables. */
export interface SecretData {
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  type?: string;
  data: Record<string, Buffer>;
}

export interface Snapshot {
  mailServers: MailServer[];
  listeners: Listener[];
  pkiCerts: PkiCert[];
  mailDomains: MailDomain[];
  virtualUsers: VirtualUser[];
  secrets: SecretData[];
}

export interface RenderOptions {
  /**
   * Secrets the relay pod mounts must exist (a PkiCert's, the smarthost password, DKIM and SRS keys): a
   * missing one holds the server, since a pod would wait for its volume. Off for offline render, where
   * Secrets are often kept out of the files; a Secret that is there is still checked.
   */
  requirePkiSecrets: boolean;
  /** Largest data size of one table Secret; the API server's limit is 1 MiB. */
  shardBytes: number;
  /** Split a large table into parts across Secrets (needs the relay's `tables.<name>.files`). */
  splitTables: boolean;
  namespace: string;
  /**
   * Validation results by raw object, kept across renders by a caller whose objects never change in place
   * (the operator's watch caches replace an object on every change): 10,000 users are not cloned and
   * validated again on every reconcile. Render never mutates what it finds here.
   */
  validated?: WeakMap<object, Validation>;
}

export const defaultRenderOptions: RenderOptions = { requirePkiSecrets: false, shardBytes: 1_000_000, splitTables: relayReadsTableParts, namespace: 'default' };

/** Condition reasons; the same words go into Events. */
export const Reasons = {
  Ready: 'Ready',
  InvalidSpec: 'InvalidSpec',
  MailServerNotFound: 'MailServerNotFound',
  MailDomainNotFound: 'MailDomainNotFound',
  PkiCertNotFound: 'PkiCertNotFound',
  PkiCertNotReady: 'PkiCertNotReady',
  SecretNotFound: 'SecretNotFound',
  PortConflict: 'PortConflict',
  ServiceConflict: 'ServiceConflict',
  AddressConflict: 'AddressConflict',
  UsernameConflict: 'UsernameConflict',
  DomainMismatch: 'DomainMismatch',
  TableTooLarge: 'TableTooLarge',
  NoListeners: 'NoListeners',
  InvalidRelayConfig: 'InvalidRelayConfig',
  HeldByInvalidObjects: 'HeldByInvalidObjects',
  /** Held only by members waiting for something (a DKIM key being generated, a certificate being issued). */
  WaitingForMembers: 'WaitingForMembers',
  Held: 'Held',
  Issuing: 'Issuing',
  Issued: 'Issued',
  Expired: 'Expired',
  Applied: 'Applied',
  ApplyFailed: 'ApplyFailed',
  MailServerNotReady: 'MailServerNotReady',
  // the MailServer's rollout (operator/controllers/rollout.ts)
  RollingOut: 'RollingOut',
  ConfigNotLoaded: 'ConfigNotLoaded',
  ClaimUnbound: 'ClaimUnbound',
  Unschedulable: 'Unschedulable',
  ImagePullFailed: 'ImagePullFailed',
  CrashLoop: 'CrashLoop',
  ContainerConfigError: 'ContainerConfigError',
  // queues left by a scale-down (operator/controllers/drain.ts): Events only, Ready is not touched
  DrainStarted: 'DrainStarted',
  Drained: 'Drained',
  DrainFailed: 'DrainFailed',
} as const;

/**
 * Reasons that mean "waiting for something to arrive or to be made" (an object applied before the one it
 * names, a certificate being issued): Reconciling, a Normal event. Every other False reason is a real
 * problem: Stalled, a Warning.
 */
export const WaitingReasons: ReadonlySet<string> = new Set([
  Reasons.MailServerNotFound,
  Reasons.MailDomainNotFound,
  Reasons.PkiCertNotFound,
  Reasons.PkiCertNotReady,
  Reasons.SecretNotFound,
  Reasons.Issuing,
  Reasons.NoListeners,
  Reasons.WaitingForMembers,
  Reasons.RollingOut,
  Reasons.ConfigNotLoaded,
]);
export type Reason = (typeof Reasons)[keyof typeof Reasons];

/** What render found about one object. `ready: false` on a member holds its server's last good config. */
export interface Verdict {
  /** 'held': valid, but its server applies nothing now; its status is written only if it has none yet. */
  ready: boolean | 'held';
  reason: Reason;
  message: string;
  warnings: string[];
  /** Extra status fields (counts, ports), never Secret content. */
  status: Record<string, unknown>;
  /** ready false only while waiting (WaitingReasons): Reconciling=True and a Normal event, not Stalled and a Warning. */
  waiting?: boolean;
  /** Conditions besides Ready/Reconciling/Stalled, set by other controllers (DNSReady); null removes one. */
  conditions?: Record<string, { status: 'True' | 'False' | 'Unknown'; reason: string; message: string } | null>;
}

export type Kind = 'MailServer' | 'Listener' | 'PkiCert' | 'MailDomain' | 'VirtualUser';

export function objectKey(kind: Kind, namespace: string | undefined, name: string): string {
  return `${kind}/${namespace ?? 'default'}/${name}`;
}

type Aged = { metadata: { name: string; creationTimestamp?: string }; status?: { conditions?: { type: string; status: string }[] } };

/** Whether the object was Ready (in the served config) when last judged. */
function incumbent(o: Aged): number {
  return o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? 0 : 1;
}

/**
 * Older objects first (they keep a contested port or address). creationTimestamp has one-second
 * resolution, so within a second the object that was already Ready wins; then the name decides.
 */
export function byAge<T extends Aged>(a: T, b: T): number {
  const ta = a.metadata.creationTimestamp ?? '';
  const tb = b.metadata.creationTimestamp ?? '';
  if (ta !== tb) return ta < tb ? -1 : 1;
  return incumbent(a) - incumbent(b) || (a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0);
}
