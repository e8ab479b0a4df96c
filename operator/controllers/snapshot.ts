// A render Snapshot of one namespace from the watch caches. Secrets are decoded once per
// resourceVersion (a 10,000-key Secret is not decoded on every reconcile).
import type { KubeObjectLike } from '../kube/client.ts';
import type { SecretData, Snapshot } from '../render/snapshot.ts';
import { secretFromDocument } from '../render/documents.ts';
import { render, type RenderOutput } from '../render/render.ts';
import type { ControllerContext } from './context.ts';

const decoded = new WeakMap<object, SecretData>();

function secretData(o: KubeObjectLike): SecretData {
  let d = decoded.get(o);
  if (!d) {
    d = secretFromDocument(o as unknown as Parameters<typeof secretFromDocument>[0]);
    decoded.set(o, d);
  }
  return d;
}

export function namespaceSnapshot(ctx: ControllerContext, namespace: string): Snapshot {
  const i = ctx.informers;
  const list = <T>(k: keyof typeof i) => i[k].list(namespace) as unknown as T[];
  return {
    mailServers: list('MailServer'),
    listeners: list('Listener'),
    pkiCerts: list('PkiCert'),
    mailDomains: list('MailDomain'),
    virtualUsers: list('VirtualUser'),
    secrets: i.Secret.list(namespace).map(secretData),
  };
}

/** render() of one namespace as the operator runs it: PkiCert Secrets required, validation memoised. */
export function renderNamespace(ctx: ControllerContext, namespace: string): RenderOutput {
  return render(namespaceSnapshot(ctx, namespace), { namespace, requirePkiSecrets: true, now: ctx.now(), validated: ctx.validated });
}

/** The MailServer an object belongs to (`ns/name`), if it names one (VirtualUsers through their MailDomain). */
export function serverKeyOf(ctx: ControllerContext, o: KubeObjectLike): string | undefined {
  const ns = o.metadata.namespace ?? 'default';
  const spec = o.spec as { mailServerRef?: { name?: string }; mailDomainRef?: { name?: string } } | undefined;
  if (o.kind === 'MailServer') return `${ns}/${o.metadata.name}`;
  if (spec?.mailServerRef?.name) return `${ns}/${spec.mailServerRef.name}`;
  if (spec?.mailDomainRef?.name) {
    const d = ctx.informers.MailDomain.get(ns, spec.mailDomainRef.name) as { spec?: { mailServerRef?: { name?: string } } } | undefined;
    if (d?.spec?.mailServerRef?.name) return `${ns}/${d.spec.mailServerRef.name}`;
  }
  return undefined;
}
