// What every reconciler shares: the client, the caches, the event recorder, metrics, and the verdicts
// of the last render (so member kinds can write their status without rendering again).
import type { Logger } from 'pino';
import type { KubeClient, KubeObjectLike } from '../kube/client.ts';
import type { Informer } from '../kube/informer.ts';
import type { Verdict } from '../render/snapshot.ts';
import type { Validation } from '../api/validate.ts';
import type { EventRecorder } from './events.ts';
import type { OperatorMetrics } from './metrics.ts';
import type { DomainDnsState } from './domain-dns-state.ts';

export const FIELD_MANAGER = 'kubemta-operator';

export type CachedKind = 'MailServer' | 'Listener' | 'PkiCert' | 'MailDomain' | 'VirtualUser' | 'Secret' | 'ConfigMap' | 'Service' | 'Deployment' | 'StatefulSet' | 'PersistentVolumeClaim' | 'PodDisruptionBudget';

export interface ControllerContext {
  client: KubeClient;
  informers: Record<CachedKind, Informer<KubeObjectLike>>;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  /** By objectKey(): the verdict of the last render and the generation it judged. */
  verdicts: Map<string, { verdict: Verdict; generation: number | undefined }>;
  /** Validation results by cached object (render's memo: the caches replace objects, never change them). */
  validated: WeakMap<object, Validation>;
  /** Queue a member's status write (kind, `ns/name`). */
  enqueue: (kind: 'MailServer' | 'Listener' | 'PkiCert' | 'MailDomain' | 'VirtualUser' | 'DkimKeys' | 'DomainDns', key: string) => void;
  /** What the DNS check found per MailDomain, for its status and its key rotation. */
  domainDns: DomainDnsState;
  now: () => Date;
  /** By server `ns/name`: the volumes hash last handed to its pods (nudge.ts; empty after a restart). */
  nudged: Map<string, string>;
  /**
   * Ready means mail flows (rollout.ts): the workload rolled out and every relay serving the rendered
   * config. Off only where no relay can run (tests of rendering without a node): Ready then means the
   * config rendered and was applied.
   */
  relayCheck: boolean;
  /** How long an unbound claim or an unschedulable pod is Reconciling before it is Stalled (rollout.ts). */
  stallAfterMs: number;
  /** By `ns/Kind/name` of a workload: since when its relays have not served the config now wanted (rollout.ts). */
  notLoaded: Map<string, { want: string; since: number }>;
  /** By server `ns/name`: the drain Jobs this operator started and has not seen finish (drain.ts). */
  drainJobs: Map<string, Set<string>>;
  /**
   * By `Kind/ns/name`: the digest of the status last written and the resourceVersion of the cached object
   * it was computed from, so a reconcile on a cache that has not seen that write yet does not repeat it.
   */
  statusWritten: Map<string, { from: string | undefined; digest: string }>;
  /** By server `ns/name`: the content hash of its ServiceMonitor as last applied or read, null when there is none (monitor.ts). */
  monitors: Map<string, string | null>;
}
