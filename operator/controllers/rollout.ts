// "Ready means mail flows": after the config renders and is applied, a MailServer is Ready only when its
// workload's current revision is rolled out and available (every desired replica) and every relay pod
// reports, on its ops port, the configHash of the config the operator rendered (relay/ops/http.ts).
// Otherwise Ready=False with Reconciling (rolling out, a relay not on the new config yet, a claim binding)
// or Stalled and the reason it cannot progress (a claim that stays unbound, an image that cannot be
// pulled, a crash loop, an unschedulable pod). Pods are not watched: while not Ready the reconcile asks
// to run again (requeueAfterMs).
import { type KubeObjectLike } from '../kube/client.ts';
import { Paths } from '../render/relay-config.ts';
import { Reasons, type Verdict } from '../render/snapshot.ts';
import { Annotations, type Manifest } from '../render/workload.ts';
import type { ControllerContext } from './context.ts';
import { CONFIG_HASH_HEADER, TABLES_HASH_HEADER } from '../../relay/ops/http.ts';
import { Resources } from '../api/resources.ts';

/** How long a claim may stay unbound, or a pod unschedulable, before that is Stalled rather than Reconciling. */
export const STALL_AFTER_MS = 60_000;
/** Run again after this while rolling out, and after the longer one while stalled (pods are not watched). */
export const REQUEUE_ROLLING_MS = 2_000;
export const REQUEUE_STALLED_MS = 10_000;

interface PodStatus {
  phase?: string;
  podIP?: string;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
  containerStatuses?: { name: string; ready: boolean; restartCount: number; state?: { waiting?: { reason?: string; message?: string } }; lastState?: { terminated?: { reason?: string; exitCode?: number } } }[];
}
type Pod = KubeObjectLike & { status?: PodStatus; spec?: { volumes?: { persistentVolumeClaim?: { claimName: string } }[] } };
interface WorkloadStatus {
  observedGeneration?: number;
  replicas?: number;
  updatedReplicas?: number;
  readyReplicas?: number;
  availableReplicas?: number;
  currentRevision?: string;
  updateRevision?: string;
}

export interface RolloutResult {
  /** Ready (undefined: the render verdict stands) or why not. */
  verdict?: Pick<Verdict, 'ready' | 'reason' | 'message' | 'waiting'>;
  status: { replicas: number; readyReplicas: number; relays: string };
  requeueAfterMs?: number;
}

const IMAGE_PULL = new Set(['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull', 'InvalidImageName', 'RegistryUnavailable']);
const CONFIG_ERROR = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

type Why = { stalled: boolean; reason: string; message: string };

/** Why a pod is not Ready, in the words of the issue: claim, schedule, image, crash. */
export function podProblem(pod: Pod, now: number, claimPhase: (name: string) => string | undefined, stallAfterMs = STALL_AFTER_MS): Why {
  const name = pod.metadata.name;
  const st = pod.status ?? {};
  const created = pod.metadata.creationTimestamp as string | undefined;
  const age = created ? now - Date.parse(created) : 0;
  const scheduled = st.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False') {
    const unbound = (pod.spec?.volumes ?? []).map((v) => v.persistentVolumeClaim?.claimName).filter((c): c is string => !!c && claimPhase(c) !== 'Bound');
    if (unbound.length || /unbound|PersistentVolumeClaim/i.test(scheduled.message ?? '')) {
      const which = unbound.length ? `claim ${unbound.map((c) => `${c} (${claimPhase(c) ?? 'missing'})`).join(', ')} not bound: ` : '';
      return { stalled: age > stallAfterMs, reason: Reasons.ClaimUnbound, message: `pod ${name} is Pending: ${which}${scheduled.message ?? 'a volume claim is not bound'}` };
    }
    return { stalled: age > stallAfterMs, reason: Reasons.Unschedulable, message: `pod ${name} cannot be scheduled: ${scheduled.message ?? scheduled.reason ?? 'unknown'}` };
  }
  for (const c of st.containerStatuses ?? []) {
    const w = c.state?.waiting;
    if (w?.reason && IMAGE_PULL.has(w.reason)) return { stalled: true, reason: Reasons.ImagePullFailed, message: `pod ${name}: container ${c.name}: ${w.reason}: ${w.message ?? ''}`.trim() };
    if (w?.reason === 'CrashLoopBackOff') {
      const last = c.lastState?.terminated;
      return { stalled: true, reason: Reasons.CrashLoop, message: `pod ${name}: container ${c.name} restarted ${c.restartCount} time(s), last exit ${last?.reason ?? 'unknown'} (code ${last?.exitCode ?? '?'})` };
    }
    if (w?.reason && CONFIG_ERROR.has(w.reason)) return { stalled: true, reason: Reasons.ContainerConfigError, message: `pod ${name}: container ${c.name}: ${w.reason}: ${w.message ?? ''}`.trim() };
  }
  const waiting = st.containerStatuses?.map((c) => c.state?.waiting?.reason).find(Boolean);
  return { stalled: false, reason: Reasons.RollingOut, message: `pod ${name} is ${st.phase ?? 'Pending'}${waiting ? ` (${waiting})` : ''}, not ready yet` };
}

/** What a relay pod serves, `configHash/tablesHash` read from its ops port; undefined when it does not answer. */
export async function servedHashes(podIP: string, timeoutMs = 2000): Promise<string | undefined> {
  try {
    const res = await fetch(`http://${podIP.includes(':') ? `[${podIP}]` : podIP}:${Paths.httpPort}/readyz`, { signal: AbortSignal.timeout(timeoutMs) });
    await res.arrayBuffer();
    return `${res.headers.get(CONFIG_HASH_HEADER) ?? '-'}/${res.headers.get(TABLES_HASH_HEADER) ?? '-'}`;
  } catch {
    return undefined;
  }
}

function podReady(p: Pod): boolean {
  return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;
}

/** Judges the rollout of an applied server whose config rendered; `wrote`: this reconcile changed something. */
export async function judgeRollout(ctx: ControllerContext, ns: string, manifests: Manifest[], wantServed: string, wrote: boolean, served: (podIP: string) => Promise<string | undefined> = servedHashes): Promise<RolloutResult> {
  const want = manifests.find((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet')!;
  const desired = (want.spec as { replicas: number }).replicas;
  const kindName = `${want.kind}/${want.metadata.name}`;
  const live = ctx.informers[want.kind as 'Deployment'].get(ns, want.metadata.name);
  const ws = (live?.status ?? {}) as WorkloadStatus;
  const status = { replicas: desired, readyReplicas: ws.readyReplicas ?? 0, relays: `${ws.readyReplicas ?? 0}/${desired}` };
  const rolling = (message: string, reason: string = Reasons.RollingOut): RolloutResult => ({ verdict: { ready: false, reason: reason as Verdict['reason'], message, waiting: true }, status, requeueAfterMs: REQUEUE_ROLLING_MS });
  if (wrote || !live || live.metadata.annotations?.[Annotations.contentHash] !== want.metadata.annotations?.[Annotations.contentHash]) {
    return rolling(`${kindName}: applying the rendered workload`);
  }
  const selector = Object.entries((want.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = ((await ctx.client.list<Pod>(Resources.Pod, ns, selector)).items as Pod[]).filter((p) => !p.metadata.deletionTimestamp).sort((a, b) => (a.metadata.name < b.metadata.name ? -1 : 1));
  const now = ctx.now().getTime();
  const claimPhase = (name: string) => (ctx.informers.PersistentVolumeClaim.get(ns, name)?.status as { phase?: string } | undefined)?.phase ?? (want.kind === 'StatefulSet' ? 'Pending' : undefined);
  const problems = pods.filter((p) => !podReady(p)).map((p) => podProblem(p, now, claimPhase, ctx.stallAfterMs));
  const stalled = problems.find((w) => w.stalled);
  if (stalled) {
    const more = problems.length > 1 ? `; and ${problems.length - 1} more pod(s) not ready` : '';
    return { verdict: { ready: false, reason: stalled.reason as Verdict['reason'], message: `${kindName}: ${stalled.message}${more}` }, status, requeueAfterMs: REQUEUE_STALLED_MS };
  }
  if ((ws.observedGeneration ?? 0) < (live.metadata.generation ?? 0)) return rolling(`${kindName}: generation ${live.metadata.generation} not observed yet`);
  const rolledOut =
    want.kind === 'Deployment'
      ? ws.updatedReplicas === desired && ws.availableReplicas === desired && ws.replicas === desired
      : ws.updatedReplicas === desired && ws.readyReplicas === desired && ws.currentRevision === ws.updateRevision && ws.replicas === desired;
  if (problems.length) return rolling(`${kindName}: ${problems[0].message}${problems.length > 1 ? `; and ${problems.length - 1} more` : ''}`, problems[0].reason);
  if (!rolledOut || pods.length !== desired) {
    return rolling(`${kindName}: ${ws.updatedReplicas ?? 0} updated, ${ws.readyReplicas ?? 0} ready of ${desired} replica(s)${pods.length !== desired ? `, ${pods.length} pod(s)` : ''}`);
  }
  // every relay must serve what was rendered (the kubelet refreshes mounted files; the relay hot-reloads)
  const answers = await Promise.all(pods.map(async (p) => [p.metadata.name, p.status?.podIP ? await served(p.status.podIP) : undefined] as const));
  const behind = answers.filter(([, h]) => h !== wantServed);
  const key = `${ns}/${kindName}`;
  if (!behind.length) {
    ctx.notLoaded.delete(key);
    return { status };
  }
  // the files reach the pod within seconds (nudge.ts); a relay still on another config after the grace
  // most likely refused to reload it: that needs a look, not more waiting
  let since = ctx.notLoaded.get(key);
  if (since?.want !== wantServed) ctx.notLoaded.set(key, (since = { want: wantServed, since: now }));
  const [pod, h] = behind[0];
  const what = h === undefined ? 'does not answer on its ops port' : `serves config/tables ${h}`;
  const message = `pod ${pod} ${what}, want ${wantServed}${behind.length > 1 ? `; and ${behind.length - 1} more` : ''}`;
  if (now - since.since > ctx.stallAfterMs) {
    const why = `${message}, for ${Math.round((now - since.since) / 1000)} s: did the relay refuse to reload it? (its log, kubemta_config_reloads_total{result="refused"})`;
    return { verdict: { ready: false, reason: Reasons.ConfigNotLoaded, message: why }, status, requeueAfterMs: REQUEUE_STALLED_MS };
  }
  return { verdict: { ready: false, reason: Reasons.ConfigNotLoaded, message, waiting: true }, status, requeueAfterMs: REQUEUE_ROLLING_MS };
}
