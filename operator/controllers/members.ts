// Reconcilers for the member kinds (Listener, MailDomain, VirtualUser): they own nothing in the cluster;
// their job is a truthful status. The MailServer reconcile renders and leaves a verdict per object;
// a member writes it. An object whose server (or domain) does not exist gets its verdict here.
import { objectKey } from '../render/snapshot.ts';
import type { KubeObjectLike } from '../kube/client.ts';
import type { ControllerContext } from './context.ts';
import { renderNamespace, serverKeyOf } from './snapshot.ts';
import { writeStatus } from './status.ts';
import { DNS_READY } from './domain-dns-state.ts';

type MemberKind = 'Listener' | 'MailDomain' | 'VirtualUser';

function memberReconciler(kind: MemberKind) {
  return async (ctx: ControllerContext, key: string): Promise<void> => {
    const [ns, name] = key.split('/');
    const obj = ctx.informers[kind].get(ns, name);
    if (!obj) {
      ctx.verdicts.delete(objectKey(kind, ns, name));
      ctx.statusWritten.delete(objectKey(kind, ns, name));
      return;
    }
    let cached = ctx.verdicts.get(objectKey(kind, ns, name));
    if (!cached || cached.generation !== obj.metadata.generation) {
      const server = serverKeyOf(ctx, obj);
      if (server && ctx.informers.MailServer.get(ns, server.split('/')[1])) {
        ctx.enqueue('MailServer', server); // it renders and queues us again with a fresh verdict
        return;
      }
      // no server to render with: judge this namespace's orphans directly
      const out = renderNamespace(ctx, ns);
      storeVerdicts(ctx, ns, out.verdicts);
      cached = ctx.verdicts.get(objectKey(kind, ns, name));
      if (!cached) return;
    }
    // a MailDomain's DNSReady comes from the DNS check (dns-records.ts), written here with the rest
    const dns = kind === 'MailDomain' ? ctx.domainDns.conditions.get(key) : undefined;
    const verdict = kind === 'MailDomain' && cached.verdict.ready !== 'held' ? { ...cached.verdict, conditions: { [DNS_READY]: dns ?? null } } : cached.verdict;
    await writeStatus(ctx, kind, obj as KubeObjectLike, verdict);
  };
}

/** Keeps the verdicts of one render, tagged with the generation each object had. */
export function storeVerdicts(ctx: ControllerContext, ns: string, verdicts: Map<string, import('../render/snapshot.ts').Verdict>): void {
  for (const [k, verdict] of verdicts) {
    const [kind, , name] = k.split('/');
    const obj = ctx.informers[kind as MemberKind].get(ns, name);
    ctx.verdicts.set(k, { verdict, generation: obj?.metadata.generation });
  }
}

export const reconcileListener = memberReconciler('Listener');
export const reconcileMailDomain = memberReconciler('MailDomain');
export const reconcileVirtualUser = memberReconciler('VirtualUser');
