// Writing a status: server-side apply on /status with our field manager, only when it changed.
import { type KubeObjectLike } from '../kube/client.ts';
import { objectKey, Reasons, type Verdict } from '../render/snapshot.ts';
import { conditionOf, sameStatus, statusDigest, statusFromVerdict } from './conditions.ts';
import { FIELD_MANAGER, type ControllerContext } from './context.ts';
import { Resources } from '../api/resources.ts';

type KindName = 'MailServer' | 'Listener' | 'PkiCert' | 'MailDomain' | 'VirtualUser';

/** True when a verdict would change the object's status. */
export function statusDiffers(ctx: ControllerContext, obj: KubeObjectLike, v: Verdict): boolean {
  const next = statusFromVerdict(obj.status as never, v, obj.metadata.generation, ctx.now());
  return next !== undefined && !sameStatus(obj.status as never, next);
}

/** Applies the status a verdict asks for (if it changed) and records an Event when Ready's reason changes. */
export async function writeStatus(ctx: ControllerContext, kind: KindName, obj: KubeObjectLike, v: Verdict): Promise<boolean> {
  const current = obj.status as Parameters<typeof statusFromVerdict>[0];
  const next = statusFromVerdict(current, v, obj.metadata.generation, ctx.now());
  if (next === undefined || sameStatus(current, next)) return false;
  const ns = obj.metadata.namespace ?? 'default';
  // this very status was written from this very (cached) object already: the watch has not brought our
  // write back yet (a second reconcile right after the first, on our own Secret's event); nothing new
  const key = objectKey(kind, ns, obj.metadata.name);
  const digest = statusDigest(next);
  const last = ctx.statusWritten.get(key);
  if (last && last.from === obj.metadata.resourceVersion && last.digest === digest) return false;
  await ctx.client.apply(
    Resources[kind],
    ns,
    { apiVersion: obj.apiVersion, kind, metadata: { name: obj.metadata.name, namespace: ns }, status: next },
    FIELD_MANAGER,
    { status: true, force: true },
  );
  ctx.statusWritten.set(key, { from: obj.metadata.resourceVersion, digest });
  ctx.metrics.writes.inc({ kind, verb: 'status' });
  ctx.log.debug({ kind, name: obj.metadata.name, reason: next.conditions?.[0]?.reason, before: current, after: next }, 'status written');
  const before = conditionOf(current);
  const after = conditionOf(next)!;
  // members becoming Ready are not news (10,000 users would mean 10,000 Events); problems always are,
  // except users following their domain's server (its MailDomain's Event says it once for all of them)
  const followsServer = kind === 'VirtualUser' && (v.reason === Reasons.MailServerNotFound || v.reason === Reasons.MailServerNotReady);
  const newsworthy = (after.status === 'False' && !followsServer) || kind === 'MailServer' || kind === 'PkiCert';
  if (newsworthy && (!before || before.reason !== after.reason || before.status !== after.status)) {
    const type = after.status === 'False' && !v.waiting ? 'Warning' : 'Normal'; // waiting is not a problem (any apply order)
    await ctx.events.record(obj, type, after.reason, after.message);
  }
  for (const w of v.warnings) await ctx.events.record(obj, 'Warning', 'Warning', w);
  return true;
}
