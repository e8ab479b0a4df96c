// The DKIM key controller of a MailDomain: generates its keys (node:crypto) into the Secret it owns
// (<name>-dkim), and walks them through their life (operator/render/dkim-keys.ts: publish, sign, retire).
// The Secret's watch event brings the MailServer's render, which publishes the records and has the relay
// sign with the keys that sign now. The keys never leave the Secret: Events and logs name selectors only.
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import type { KubeObjectLike } from '../kube/client.ts';
import type { MailDomain } from '../api/maildomain.ts';
import type { MailServer } from '../api/mailserver.ts';
import { validateObject } from '../api/validate.ts';
import { Resources } from '../api/resources.ts';
import { secretFromDocument } from '../render/documents.ts';
import { dkimKeyFile, dkimSecretManifest, dkimSecretName, dkimWanted, MAILDOMAIN_LABEL, planRotation, readDkimKeys, type KeyAlgorithm } from '../render/dkim-keys.ts';
import { Labels } from '../render/workload.ts';
import { FIELD_MANAGER, type ControllerContext } from './context.ts';

const generate = promisify(generateKeyPair);

export async function newDkimKey(algorithm: KeyAlgorithm): Promise<string> {
  const pair = algorithm === 'rsa' ? await generate('rsa', { modulusLength: 2048 }) : await generate('ed25519');
  return pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

function valid<T>(raw: KubeObjectLike | undefined): T | undefined {
  if (!raw) return undefined;
  const v = validateObject(structuredClone(raw));
  return v.ok ? (v.object as T) : undefined;
}

export async function reconcileDkimKeys(ctx: ControllerContext, key: string): Promise<{ requeueAfterMs?: number } | void> {
  const [ns, name] = key.split('/');
  const raw = ctx.informers.MailDomain.get(ns, name);
  const d = valid<MailDomain>(raw);
  if (!raw || !d) return;
  const server = valid<MailServer>(ctx.informers.MailServer.get(ns, d.spec.mailServerRef.name));
  if (!server || !dkimWanted(d, server)) return; // a Secret made earlier stays (owned: it goes with the MailDomain)
  const secretName = dkimSecretName(name);
  const live = ctx.informers.Secret.get(ns, secretName);
  if (live && live.metadata.labels?.[MAILDOMAIN_LABEL] !== name) {
    ctx.log.warn({ maildomain: key, secret: secretName }, 'a Secret not made by the operator has the DKIM Secret\'s name: leaving it alone, no keys');
    return;
  }
  const secret = live ? secretFromDocument(live as unknown as Parameters<typeof secretFromDocument>[0]) : undefined;
  const current = readDkimKeys(secret, name);
  const now = ctx.now().getTime();
  const seen = ctx.domainDns.seenSelectors.get(key);
  const plan = planRotation(d, current, now, (selector) => !!seen?.has(selector));
  const keys = [...plan.keys, ...plan.generate];
  const pems = new Map(current.map((k) => [k.selector, secret!.data[dkimKeyFile(k.selector, name)].toString('utf8')]));
  for (const k of plan.generate) pems.set(k.selector, await newDkimKey(k.algorithm));
  const relabel = live?.metadata.labels?.[Labels.server] !== server.metadata.name;
  if (JSON.stringify(keys) !== JSON.stringify(current) || relabel) {
    const manifest = dkimSecretManifest(raw as { metadata: KubeObjectLike['metadata']; apiVersion: string }, server.metadata.name, keys, pems);
    await ctx.client.apply(Resources.Secret, ns, manifest as unknown as KubeObjectLike, FIELD_MANAGER, { force: true });
    ctx.metrics.writes.inc({ kind: 'Secret', verb: 'apply' });
    for (const c of plan.changes) await ctx.events.record(raw, 'Normal', 'DkimKey', c);
    ctx.log.info({ maildomain: key, secret: secretName, changes: plan.changes }, 'DKIM keys');
  }
  return plan.nextAt === undefined ? undefined : { requeueAfterMs: Math.min(Math.max(1000, plan.nextAt - now), 2 ** 31 - 1) };
}
