// The volume nudge: the kubelet rewrites mounted ConfigMaps and Secrets only when it syncs a pod, which
// it does on a timer (syncFrequency, 1 min by default, plus jitter) or when the pod object changes. So
// after the content of any of a relay's mounted sources changed (the config ConfigMap, the table
// Secrets, the PkiCerts' TLS Secrets, the smarthost password, DKIM and SRS key Secrets), the operator sets
// the annotation kubemta.io/volumes-hash on the relay's running pods: a merge patch of that one
// annotation, never the pod template (that would restart the relay). The kubelet syncs the pod at once
// and the relay hot-reloads the new files within a second instead of a minute.
//
// The hash covers what the pods mount: for the objects the operator renders, their content hashes; for
// the users' Secrets (a PkiCert's secretName, its selfSigned <name>-tls, smarthost, DKIM, SRS), a hash of the
// keys mounted from them, read from the watch cache. Pods are listed only when that hash differs from
// the one this operator last handed out for the server, and patched only when theirs differs: an
// unchanged reconcile reads and writes no pod.
import { ApiError, type KubeObjectLike } from '../kube/client.ts';
import { Annotations, hashOf, type Manifest } from '../render/workload.ts';
import type { ControllerContext } from './context.ts';
import { Resources } from '../api/resources.ts';

interface SecretProjection {
  name: string;
  items?: { key: string; path: string }[];
}
interface VolumeSource {
  configMap?: { name: string; items?: { key: string; path: string }[] };
  secret?: { secretName: string; items?: { key: string; path: string }[] };
  projected?: { sources: { secret?: SecretProjection; configMap?: SecretProjection }[] };
}

/** What one mounted source holds: the rendered object's content hash, else a hash of the live keys it mounts. */
function sourceHash(ctx: ControllerContext, rendered: Map<string, Manifest>, kind: 'ConfigMap' | 'Secret', ns: string, src: SecretProjection): string {
  const own = rendered.get(`${kind}/${src.name}`);
  if (own) return own.metadata.annotations?.[Annotations.contentHash] ?? hashOf(own.data);
  const live = ctx.informers[kind].get(ns, src.name);
  if (!live) return 'absent';
  const data = (live.data ?? {}) as Record<string, string>;
  const keys = src.items ? src.items.map((i) => i.key) : Object.keys(data).sort();
  return hashOf(keys.map((k) => [k, data[k] ?? null]));
}

/**
 * The relay workload's pod selector and the hash of everything its pods mount from ConfigMaps and
 * Secrets, or undefined when the manifests hold no workload.
 */
export function volumesOf(ctx: ControllerContext, ns: string, manifests: Manifest[]): { selector: Record<string, string>; hash: string } | undefined {
  const w = manifests.find((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet');
  if (!w) return undefined;
  const spec = w.spec as { selector: { matchLabels: Record<string, string> }; template: { spec: { volumes?: VolumeSource[] } } };
  const rendered = new Map(manifests.map((m) => [`${m.kind}/${m.metadata.name}`, m]));
  const parts: string[] = [];
  for (const v of spec.template.spec.volumes ?? []) {
    if (v.configMap) parts.push(`ConfigMap/${v.configMap.name}=${sourceHash(ctx, rendered, 'ConfigMap', ns, v.configMap)}`);
    if (v.secret) parts.push(`Secret/${v.secret.secretName}=${sourceHash(ctx, rendered, 'Secret', ns, { name: v.secret.secretName, items: v.secret.items })}`);
    for (const s of v.projected?.sources ?? []) {
      if (s.secret) parts.push(`Secret/${s.secret.name}=${sourceHash(ctx, rendered, 'Secret', ns, s.secret)}`);
      if (s.configMap) parts.push(`ConfigMap/${s.configMap.name}=${sourceHash(ctx, rendered, 'ConfigMap', ns, s.configMap)}`);
    }
  }
  return { selector: spec.selector.matchLabels, hash: hashOf(parts) };
}

/**
 * Sets kubemta.io/volumes-hash on the server's pods whose value differs. A pod without the annotation
 * is left alone on the first reconcile after an operator start when that reconcile wrote nothing (it
 * mounted its files when it started; nothing is known to have changed since), and patched once a change
 * was seen. Returns the number of pods patched.
 */
export async function nudgePods(ctx: ControllerContext, key: string, ns: string, manifests: Manifest[], wrote: boolean): Promise<number> {
  const v = volumesOf(ctx, ns, manifests);
  if (!v) return 0;
  const last = ctx.nudged.get(key);
  if (last === v.hash) return 0;
  const selector = Object.entries(v.selector).sort(([a], [b]) => (a < b ? -1 : 1)).map(([k, val]) => `${k}=${val}`).join(',');
  const pods = (await ctx.client.list(Resources.Pod, ns, selector)).items;
  let patched = 0;
  for (const p of pods) {
    if (p.metadata.deletionTimestamp) continue;
    const has = p.metadata.annotations?.[Annotations.volumesHash];
    if (has === v.hash || (has === undefined && last === undefined && !wrote)) continue;
    try {
      await ctx.client.patch<KubeObjectLike>(Resources.Pod, ns, p.metadata.name, { metadata: { annotations: { [Annotations.volumesHash]: v.hash } } });
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) continue; // gone meanwhile: its successor mounts the new files
      throw err;
    }
    patched++;
    ctx.metrics.podNudges.inc();
    ctx.log.info({ server: key, pod: p.metadata.name, volumesHash: v.hash, was: has ?? null }, 'pod nudged: mounted ConfigMap/Secret content changed');
  }
  ctx.nudged.set(key, v.hash);
  return patched;
}
