// Drains the queues a scale-down left behind (operator/render/drain.ts says which claims, and renders the
// Job). Per claim: wait until no pod mounts it (the removed replica may still be terminating: one writer
// per queue), start the drain Job, report its progress from the drain relay's /metrics, and once the Job
// succeeded (the relay exits 0 only with an empty queue) apply the claim policy and delete the Job. Jobs
// and pods are not watched: listed only while a claim needs draining, with a requeue while one runs.
// A draining server stays Ready when it serves: the drain shows in status.drains and status.draining.
import { ApiError, type KubeObjectLike } from '../kube/client.ts';
import type { MailServer } from '../api/mailserver.ts';
import { Resources } from '../api/resources.ts';
import { DRAINED_ANNOTATION, drainJob, drainJobName, orphanedClaims, reusedClaims, type OrphanedClaim } from '../render/drain.ts';
import { Paths } from '../render/relay-config.ts';
import { Reasons } from '../render/snapshot.ts';
import { Labels, type Manifest } from '../render/workload.ts';
import type { ControllerContext } from './context.ts';

export const REQUEUE_DRAINING_MS = 5_000;

type Phase = 'Waiting' | 'Running' | 'Failed' | 'Drained';
export interface DrainStatus {
  claim: string;
  phase: Phase;
  job?: string;
  remaining?: number;
  message?: string;
}

type Job = KubeObjectLike & { status?: { succeeded?: number; failed?: number; active?: number; conditions?: { type: string; status: string; message?: string }[] } };
type Pod = KubeObjectLike & { spec?: { volumes?: { persistentVolumeClaim?: { claimName: string } }[] }; status?: { phase?: string; podIP?: string } };

/** Mails left in a drain pod's queue, from its /metrics; undefined when it does not answer yet. */
async function remainingMails(podIP: string): Promise<number | undefined> {
  try {
    const res = await fetch(`http://${podIP.includes(':') ? `[${podIP}]` : podIP}:${Paths.httpPort}/metrics`, { signal: AbortSignal.timeout(2000) });
    const m = /^kubemta_queue_messages (\d+)/m.exec(await res.text());
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function ignoreNotFound(err: unknown): void {
  if (!(err instanceof ApiError && err.status === 404)) throw err;
}

export async function reconcileDrains(ctx: ControllerContext, server: MailServer, workload: Manifest): Promise<{ drains?: DrainStatus[]; draining?: string; requeueAfterMs?: number }> {
  const ns = server.metadata.namespace ?? 'default';
  const name = server.metadata.name;
  const claims = ctx.informers.PersistentVolumeClaim.list(ns) as Parameters<typeof orphanedClaims>[1];
  for (const c of reusedClaims(server, claims)) {
    await ctx.client.patch(Resources.PersistentVolumeClaim, ns, c, { metadata: { annotations: { [DRAINED_ANNOTATION]: null } } });
  }
  const orphaned = orphanedClaims(server, claims);
  const pending = orphaned.filter((c) => !c.drained);
  // a replica came back to a claim while its drain ran: stop the drain, the replica has the queue now
  // (known only for Jobs this operator process started; the replica and the Job overlap for a moment)
  const key = `${ns}/${name}`;
  const started = ctx.drainJobs.get(key) ?? new Set<string>();
  const wanted = new Set(pending.map((c) => drainJobName(server, c)));
  for (const job of [...started].filter((j) => !wanted.has(j))) {
    await ctx.client.delete(Resources.Job, ns, job).catch(ignoreNotFound);
    started.delete(job);
    ctx.log.info({ server: key, job }, 'drain stopped: a replica mounts its claim again');
  }
  if (started.size) ctx.drainJobs.set(key, started);
  else ctx.drainJobs.delete(key);
  if (!pending.length) {
    const drains = orphaned.map((c): DrainStatus => ({ claim: c.queue, phase: 'Drained', message: `found empty at ${claims.find((x) => x.metadata.name === c.queue)?.metadata.annotations?.[DRAINED_ANNOTATION]}` }));
    return drains.length ? { drains } : {};
  }
  const selector = `${Labels.instance}=${name}`;
  const [jobs, pods] = await Promise.all([
    ctx.client.list<Job>(Resources.Job, ns, `${selector},${Labels.component}=drain`).then((r) => r.items as Job[]),
    ctx.client.list<Pod>(Resources.Pod, ns, selector).then((r) => r.items as Pod[]),
  ]);
  const out: DrainStatus[] = [];
  for (const c of orphaned) {
    if (c.drained) {
      out.push({ claim: c.queue, phase: 'Drained' });
      continue;
    }
    out.push(await drainOne(ctx, server, workload, c, jobs, pods));
  }
  const open = out.filter((d) => d.phase !== 'Drained');
  const left = open.reduce((n, d) => n + (d.remaining ?? 0), 0);
  const moving = open.some((d) => d.phase === 'Waiting' || d.phase === 'Running');
  return {
    drains: out,
    draining: open.length ? `${open.length} claim(s), ${left} mail(s) left` : undefined,
    requeueAfterMs: moving ? REQUEUE_DRAINING_MS : undefined,
  };
}

async function drainOne(ctx: ControllerContext, server: MailServer, workload: Manifest, c: OrphanedClaim, jobs: Job[], pods: Pod[]): Promise<DrainStatus> {
  const ns = server.metadata.namespace ?? 'default';
  const jobName = drainJobName(server, c);
  const job = jobs.find((j) => j.metadata.name === jobName);
  const mounting = pods.filter((p) => p.metadata.labels?.['job-name'] !== jobName && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed' && (p.spec?.volumes ?? []).some((v) => v.persistentVolumeClaim?.claimName === c.queue));
  if (!job) {
    // one writer per queue: the removed replica must be gone first (it finishes its sessions on SIGTERM)
    if (mounting.length) return { claim: c.queue, phase: 'Waiting', message: `pod ${mounting[0].metadata.name} still mounts the claim` };
    await ctx.client.create(Resources.Job, ns, drainJob(server, workload, c));
    const key = `${ns}/${server.metadata.name}`;
    ctx.drainJobs.set(key, (ctx.drainJobs.get(key) ?? new Set()).add(jobName));
    ctx.metrics.writes.inc({ kind: 'Job', verb: 'create' });
    await ctx.events.record(server, 'Normal', Reasons.DrainStarted, `Job ${jobName} drains claim ${c.queue}, which no replica mounts since the scale-down`);
    return { claim: c.queue, phase: 'Running', job: jobName, message: 'Job created' };
  }
  const st = job.status ?? {};
  if ((st.succeeded ?? 0) > 0) {
    // the relay exits 0 only with its queue empty: every mail was delivered or bounced
    if (server.spec.drainedQueueClaims === 'Delete') {
      await ctx.client.delete(Resources.PersistentVolumeClaim, ns, c.queue).catch(ignoreNotFound);
    } else {
      await ctx.client.patch(Resources.PersistentVolumeClaim, ns, c.queue, { metadata: { annotations: { [DRAINED_ANNOTATION]: ctx.now().toISOString() } } });
    }
    await ctx.client.delete(Resources.Job, ns, jobName).catch(ignoreNotFound);
    ctx.drainJobs.get(`${ns}/${server.metadata.name}`)?.delete(jobName);
    await ctx.events.record(server, 'Normal', Reasons.Drained, `claim ${c.queue} drained: its queue is empty; claim ${server.spec.drainedQueueClaims === 'Delete' ? 'deleted' : 'kept'} (drainedQueueClaims: ${server.spec.drainedQueueClaims})`);
    return { claim: c.queue, phase: 'Drained', job: jobName, remaining: 0 };
  }
  const failed = st.conditions?.find((x) => x.type === 'Failed' && x.status === 'True');
  if (failed) {
    const message = `Job ${jobName} failed: ${failed.message ?? 'backoff limit reached'}; the claim and its mail are kept (delete the Job to try again)`;
    // not requeued: said again only when something else brings the server back
    await ctx.events.record(server, 'Warning', Reasons.DrainFailed, message);
    return { claim: c.queue, phase: 'Failed', job: jobName, message };
  }
  const pod = pods.find((p) => p.metadata.labels?.['job-name'] === jobName && p.status?.phase === 'Running' && p.status.podIP);
  const remaining = pod ? await remainingMails(pod.status!.podIP!) : undefined;
  return { claim: c.queue, phase: 'Running', job: jobName, ...(remaining !== undefined ? { remaining } : {}), message: pod ? `pod ${pod.metadata.name} delivering` : 'waiting for the drain pod' };
}
