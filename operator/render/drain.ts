// The drain of a queue a scale-down left behind. With replicas > 1 a MailServer is a StatefulSet with a
// queue claim per replica (queue-<server>-<ordinal>); with one, a Deployment with <server>-queue. A claim
// that no replica mounts any more (its ordinal >= replicas, or the other workload kind's claim) may hold
// mail nobody would ever deliver: a Job runs the relay in drain mode on it (and on the mail claim beside
// it, for local deliveries) until its queue is empty. Pure: which claims, and the Job for one of them.
import type { MailServer } from '../api/mailserver.ts';
import { finish, Labels, MANAGED_BY, type Manifest } from './workload.ts';

export const DRAINED_ANNOTATION = 'kubemta.io/drained';
/** A drain retries deferred mail at least this often (the relay's own cap is an hour): it should end. */
export const DRAIN_MAX_RETRY_SECONDS = 60;

export interface OrphanedClaim {
  /** The queue claim. */
  queue: string;
  /** The mail store claim of the same replica. */
  mail: string;
  /** `0`, `1`, … for a StatefulSet replica's claims; `single` for the Deployment's. */
  id: string;
  /** Marked drained already (drainedQueueClaims: Retain). */
  drained: boolean;
}

type Claim = { metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string } };

/** The server's queue claims that its workload does not mount now, oldest ordinal first. */
export function orphanedClaims(server: MailServer, claims: Claim[]): OrphanedClaim[] {
  const name = server.metadata.name;
  const replicas = server.spec.replicas;
  const out: OrphanedClaim[] = [];
  for (const c of claims) {
    if (c.metadata.labels?.[Labels.server] !== name || c.metadata.labels?.[Labels.component] !== 'queue' || c.metadata.deletionTimestamp) continue;
    const drained = c.metadata.annotations?.[DRAINED_ANNOTATION] !== undefined;
    if (c.metadata.name === `${name}-queue`) {
      if (replicas > 1) out.push({ queue: c.metadata.name, mail: `${name}-mail`, id: 'single', drained });
      continue;
    }
    const m = new RegExp(`^queue-${name.replace(/[.]/g, '\\.')}-(\\d+)$`).exec(c.metadata.name);
    if (m && (replicas === 1 || Number(m[1]) >= replicas)) out.push({ queue: c.metadata.name, mail: `mail-${name}-${m[1]}`, id: m[1], drained });
  }
  return out.sort((a, b) => (a.id === b.id ? 0 : a.id === 'single' ? -1 : b.id === 'single' ? 1 : Number(a.id) - Number(b.id)));
}

/** Claims marked drained that a replica mounts again: the mark must go, the next scale-down drains them anew. */
export function reusedClaims(server: MailServer, claims: Claim[]): string[] {
  const orphaned = new Set(orphanedClaims(server, claims).map((c) => c.queue));
  return claims
    .filter((c) => c.metadata.labels?.[Labels.server] === server.metadata.name && c.metadata.labels?.[Labels.component] === 'queue')
    .filter((c) => c.metadata.annotations?.[DRAINED_ANNOTATION] !== undefined && !orphaned.has(c.metadata.name))
    .map((c) => c.metadata.name);
}

export function drainJobName(server: MailServer, claim: OrphanedClaim): string {
  return `${server.metadata.name}-drain-${claim.id}`;
}

/** Labels of a drain Job and its pod: not the relay's selector (no Service sends it SMTP, no rollout counts it). */
export function drainLabels(server: MailServer): Record<string, string> {
  return { [Labels.name]: 'kubemta-drain', [Labels.instance]: server.metadata.name, [Labels.component]: 'drain', [Labels.managedBy]: MANAGED_BY, [Labels.server]: server.metadata.name };
}

interface PodSpec {
  containers: { args: string[]; [k: string]: unknown }[];
  volumes: { name: string; [k: string]: unknown }[];
  [k: string]: unknown;
}

/** The drain Job for one claim: the relay's own pod (config, tables, certificates, secrets) on that claim, in drain mode. */
export function drainJob(server: MailServer, workload: Manifest, claim: OrphanedClaim): Manifest {
  const template = (workload.spec as { template: { spec: PodSpec } }).template.spec;
  const volumes = template.volumes.filter((v) => v.name !== 'queue' && v.name !== 'mail');
  volumes.push({ name: 'queue', persistentVolumeClaim: { claimName: claim.queue } }, { name: 'mail', persistentVolumeClaim: { claimName: claim.mail } });
  const containers = template.containers.map(({ ports: _p, readinessProbe: _r, livenessProbe: _l, ...c }) => ({
    ...c,
    args: [...c.args, '--drain', '--set', `outbound.retry.maxSeconds=${DRAIN_MAX_RETRY_SECONDS}`],
  }));
  const labels = drainLabels(server);
  return finish(
    {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: drainJobName(server, claim), namespace: server.metadata.namespace ?? 'default', labels, annotations: { 'kubemta.io/claim': claim.queue } },
      spec: {
        // the relay exits non-zero only when it could not run or was stopped early: try again, a while
        backoffLimit: 10,
        template: { metadata: { labels }, spec: { ...template, restartPolicy: 'OnFailure', containers, volumes } },
      },
    },
    true,
    server,
  );
}
