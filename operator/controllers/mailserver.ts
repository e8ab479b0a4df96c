// The MailServer reconcile: render the namespace, and unless the server is held, apply what changed
// (compared by content hash: an unchanged object is never written), delete what it no longer owns,
// nudge the relay's pods when what they mount changed (nudge.ts), then write the server's status and
// queue the members whose status changed.
import { ApiError, type KubeObjectLike } from '../kube/client.ts';
import { objectKey, Reasons, type Verdict } from '../render/snapshot.ts';
import { Annotations, Labels, type Manifest } from '../render/workload.ts';
import { FIELD_MANAGER, type CachedKind, type ControllerContext } from './context.ts';
import { storeVerdicts } from './members.ts';
import { nudgePods } from './nudge.ts';
import { reconcileDrains } from './drain.ts';
import { MONITOR_RETRY_MS, reconcileMonitor } from './monitor.ts';
import { judgeRollout } from './rollout.ts';
import { renderNamespace } from './snapshot.ts';
import { statusDiffers, writeStatus } from './status.ts';
import { Resources } from '../api/resources.ts';
import type { MailServer } from '../api/mailserver.ts';

/** What the operator prunes when it no longer renders it: never PVCs (mail is data), never the ConfigMap (always rendered). */
const PRUNED: CachedKind[] = ['Secret', 'Service', 'Deployment', 'StatefulSet', 'PodDisruptionBudget'];

/** A StatefulSet's volumeClaimTemplates, serviceName, selector… cannot change: the API server answers 422 Forbidden. */
function immutableFieldChange(err: unknown): boolean {
  return err instanceof ApiError && err.status === 422 && /Forbidden: updates to statefulset spec for fields other than/.test(err.message);
}

/**
 * Applies one manifest unless the live object carries the same content hash (and, for ConfigMaps and
 * Secrets, the same data). Returns true when it wrote something.
 */
async function applyManifest(ctx: ControllerContext, m: Manifest): Promise<boolean> {
  const kind = m.kind as CachedKind;
  const live = ctx.informers[kind].get(m.metadata.namespace, m.metadata.name);
  const want = m.metadata.annotations?.[Annotations.contentHash];
  const sameData = kind !== 'ConfigMap' && kind !== 'Secret' ? true : JSON.stringify(live?.data ?? {}) === JSON.stringify(m.data ?? {});
  if (live && (kind === 'PersistentVolumeClaim' || (live.metadata.annotations?.[Annotations.contentHash] === want && sameData))) {
    ctx.metrics.skipped.inc({ kind });
    return false;
  }
  if (live?.metadata.deletionTimestamp) return false; // being replaced (below): its DELETED event brings us back
  const r = Resources[kind as keyof typeof Resources];
  try {
    try {
      await ctx.client.apply(r, m.metadata.namespace, m as KubeObjectLike, FIELD_MANAGER);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      // another field manager changed fields we own (kubectl edit, say): the operator's word is final
      ctx.metrics.conflicts.inc({ kind });
      ctx.log.warn({ kind, name: m.metadata.name, msg: err.message.slice(0, 300) }, 'apply conflict, forcing');
      await ctx.client.apply(r, m.metadata.namespace, m as KubeObjectLike, FIELD_MANAGER, { force: true });
    }
  } catch (err) {
    if (!(kind === 'StatefulSet' && immutableFieldChange(err))) throw err;
    // e.g. spec.queue.size with replicas > 1: replace the StatefulSet, leaving its pods and volume claims
    // in place (Orphan); the new one adopts both. Existing claims keep their size.
    ctx.log.warn({ kind, name: m.metadata.name }, 'a field the API server does not let change changed: replacing the StatefulSet (pods and volumes stay)');
    await ctx.client.delete(r, m.metadata.namespace, m.metadata.name, 'Orphan');
    ctx.metrics.recreated.inc({ kind });
    ctx.metrics.writes.inc({ kind, verb: 'delete' });
    return true;
  }
  ctx.metrics.writes.inc({ kind, verb: 'apply' });
  return true;
}

function sameVerdict(a: Verdict, b: Verdict): boolean {
  return a.ready === b.ready && a.waiting === b.waiting && a.reason === b.reason && a.message === b.message && JSON.stringify([a.status, a.warnings]) === JSON.stringify([b.status, b.warnings]);
}

/**
 * Members whose status would change get a turn (their reconcile writes the verdict computed here); a
 * verdict the last render already gave (for the same generation) was handed out then, so 10,000
 * unchanged users cost no status comparison.
 */
function queueChangedMembers(ctx: ControllerContext, ns: string, verdicts: Map<string, Verdict>, previous: Map<string, { verdict: Verdict; generation: number | undefined } | undefined>): void {
  for (const [k, v] of verdicts) {
    const [kind, , objName] = k.split('/');
    if (kind === 'MailServer' || kind === 'PkiCert') continue;
    const obj = ctx.informers[kind as CachedKind].get(ns, objName);
    if (!obj) continue;
    const before = previous.get(k);
    if (before && before.generation === obj.metadata.generation && sameVerdict(before.verdict, v)) continue;
    if (statusDiffers(ctx, obj, v)) ctx.enqueue(kind as 'Listener', `${ns}/${objName}`);
  }
}

/** Table Secrets before the config that names their files, the workload last. */
const applyOrder: Record<string, number> = { Secret: 0, ConfigMap: 1, PersistentVolumeClaim: 2, Service: 3, Deployment: 4, StatefulSet: 4, PodDisruptionBudget: 5 };

export async function reconcileMailServer(ctx: ControllerContext, key: string): Promise<{ requeueAfterMs?: number } | void> {
  const [ns, name] = key.split('/');
  const server = ctx.informers.MailServer.get(ns, name);
  if (!server) {
    ctx.nudged.delete(key);
    ctx.statusWritten.delete(objectKey('MailServer', ns, name));
    for (const kind of ['Deployment', 'StatefulSet']) ctx.notLoaded.delete(`${ns}/${kind}/${name}`);
    // deleted: owned objects go with it (garbage collection), the retained PVCs stay; its members are
    // judged here, in one render (they now name a missing server), and those whose status changes queued
    const out = renderNamespace(ctx, ns);
    storeVerdicts(ctx, ns, out.verdicts);
    queueChangedMembers(ctx, ns, out.verdicts, new Map());
    return;
  }
  const out = renderNamespace(ctx, ns);
  const previous = new Map([...out.verdicts.keys()].map((k) => [k, ctx.verdicts.get(k)]));
  storeVerdicts(ctx, ns, out.verdicts);
  const sr = out.servers.find((s) => s.key === key);
  let serverVerdict = out.verdicts.get(objectKey('MailServer', ns, name))!;
  let written = 0;
  let nudgeError: unknown;
  let monitorWarning: string | undefined;
  if (sr && !sr.held) {
    try {
      const cached = sr.manifests.filter((m) => m.kind in applyOrder);
      for (const m of cached.sort((a, b) => applyOrder[a.kind] - applyOrder[b.kind])) if (await applyManifest(ctx, m)) written++;
      // what it owned before and no longer renders (a Service whose Listeners went away, table slots)
      const desired = new Set(sr.manifests.map((m) => `${m.kind}/${m.metadata.name}`));
      for (const kind of PRUNED) {
        for (const o of ctx.informers[kind].list(ns)) {
          if (o.metadata.labels?.[Labels.server] !== name || desired.has(`${kind}/${o.metadata.name}`)) continue;
          if (kind === 'Secret' && o.metadata.labels?.[Labels.component] !== 'tables') continue;
          await ctx.client.delete(Resources[kind as keyof typeof Resources], ns, o.metadata.name);
          ctx.metrics.writes.inc({ kind, verb: 'delete' });
          written++;
        }
      }
      const monitor = await reconcileMonitor(ctx, key, ns, name, sr.manifests);
      if (monitor.written) written++;
      monitorWarning = monitor.warning;
    } catch (err) {
      const e = err as Error;
      await writeStatus(ctx, 'MailServer', server, { ready: false, reason: Reasons.ApplyFailed, message: e.message.slice(0, 500), warnings: [], status: serverVerdict.status });
      throw err;
    }
    // the files are written: have the kubelet refresh them in the running pods now, not on its next sync
    // (a failure here is retried with the reconcile, after the status is written)
    try {
      await nudgePods(ctx, key, ns, sr.manifests, written > 0);
    } catch (err) {
      nudgeError = err;
      ctx.log.warn({ server: key, err: (err as Error).message.slice(0, 300) }, 'could not nudge the relay pods');
    }
    if (written) {
      await ctx.events.record(server, 'Normal', Reasons.Applied, `applied ${written} object(s); config ${String(serverVerdict.status.configHash)}`);
    }
  }
  // a ServiceMonitor asked for but not installed stops no mail: said in status.warnings and an Event
  if (monitorWarning) serverVerdict = { ...serverVerdict, warnings: [...serverVerdict.warnings, monitorWarning], status: { ...serverVerdict.status, warnings: [monitorWarning] } };
  // Ready means mail flows: rendered and applied, rolled out, and every relay serving this config
  let verdict = serverVerdict;
  let requeueAfterMs: number | undefined = monitorWarning ? MONITOR_RETRY_MS : undefined;
  if (sr && !sr.held && serverVerdict.ready === true && ctx.relayCheck) {
    const hash = `${String(serverVerdict.status.configHash)}/${String(serverVerdict.status.tablesHash)}`;
    const r = await judgeRollout(ctx, ns, sr.manifests, hash, written > 0);
    const status = { ...serverVerdict.status, ...r.status };
    verdict = r.verdict ? { ...serverVerdict, ...r.verdict, status } : { ...serverVerdict, status, message: `${serverVerdict.message}; ${r.status.relays} relay(s) serve config/tables ${hash}` };
    requeueAfterMs = Math.min(r.requeueAfterMs ?? Infinity, requeueAfterMs ?? Infinity);
    // queues a scale-down left behind; where no relay can run (relayCheck off), no drain can either
    const workload = sr.manifests.find((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')!;
    const d = await reconcileDrains(ctx, server as unknown as MailServer, workload);
    const selector = Object.entries((workload.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels).sort().map(([k, v]) => `${k}=${v}`).join(',');
    verdict = { ...verdict, status: { ...verdict.status, selector, drains: d.drains, draining: d.draining } };
    if (d.requeueAfterMs !== undefined) requeueAfterMs = Math.min(requeueAfterMs, d.requeueAfterMs);
    if (requeueAfterMs === Infinity) requeueAfterMs = undefined;
  }
  await writeStatus(ctx, 'MailServer', server, verdict);
  ctx.log.debug({ server: key, held: sr?.held, written, reason: verdict.reason }, 'reconciled');
  queueChangedMembers(ctx, ns, out.verdicts, previous);
  if (nudgeError) throw nudgeError;
  return requeueAfterMs === undefined ? undefined : { requeueAfterMs };
}
