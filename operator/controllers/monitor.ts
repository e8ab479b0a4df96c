// The optional ServiceMonitor (spec.metrics.serviceMonitor): a kind of the Prometheus Operator's, which a
// cluster may not have. No informer watches it (a watch on a kind that is not installed fails forever), so
// what was applied is remembered here (after a start: read once). When the kind is not served, the
// MailServer says so (status.warnings, a Warning event) and serves on; it looks again every minute.
import { ApiError, type KubeObjectLike } from '../kube/client.ts';
import { Annotations, type Manifest } from '../render/workload.ts';
import { FIELD_MANAGER, type ControllerContext } from './context.ts';
import { Resources } from '../api/resources.ts';

const R = Resources.ServiceMonitor;
export const MONITOR_RETRY_MS = 60_000;

function missingKind(err: unknown): boolean {
  return err instanceof ApiError && err.status === 404;
}

/** The content hash of the live ServiceMonitor, null when there is none (or its kind is not installed). */
async function liveHash(ctx: ControllerContext, ns: string, name: string): Promise<string | null> {
  try {
    const live = await ctx.client.get<KubeObjectLike>(R, ns, name);
    return live.metadata.annotations?.[Annotations.contentHash] ?? '';
  } catch (err) {
    if (missingKind(err)) return null;
    throw err;
  }
}

/**
 * Applies the server's ServiceMonitor when rendered and changed, deletes it when no longer rendered.
 * Returns whether it wrote, and a warning when the kind is not installed.
 */
export async function reconcileMonitor(ctx: ControllerContext, key: string, ns: string, server: string, manifests: Manifest[]): Promise<{ written: boolean; warning?: string }> {
  const want = manifests.find((m) => m.kind === R.kind);
  const name = want?.metadata.name ?? `${server}-metrics`;
  if (!ctx.monitors.has(key)) ctx.monitors.set(key, await liveHash(ctx, ns, name));
  const have = ctx.monitors.get(key);
  if (!want) {
    if (have === null) return { written: false };
    await ctx.client.delete(R, ns, name);
    ctx.monitors.set(key, null);
    ctx.metrics.writes.inc({ kind: R.kind, verb: 'delete' });
    return { written: true };
  }
  const hash = want.metadata.annotations?.[Annotations.contentHash] ?? '';
  if (have === hash) {
    ctx.metrics.skipped.inc({ kind: R.kind });
    return { written: false };
  }
  try {
    await ctx.client.apply(R, ns, want as KubeObjectLike, FIELD_MANAGER, { force: true });
  } catch (err) {
    if (!missingKind(err)) throw err;
    ctx.monitors.delete(key); // look again next time
    return { written: false, warning: `spec.metrics.serviceMonitor: the API server does not serve ServiceMonitor (${R.group}/${R.version}); install the Prometheus Operator's CRD ${R.plural}.${R.group}, or turn it off` };
  }
  ctx.monitors.set(key, hash);
  ctx.metrics.writes.inc({ kind: R.kind, verb: 'apply' });
  return { written: true };
}
