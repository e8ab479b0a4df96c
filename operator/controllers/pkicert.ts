// The PkiCert reconcile: for selfSigned, create the kubernetes.io/tls Secret <name>-tls (RSA: the EC path
// of `selfsigned` fails in this dependency set) and renew it renewBeforeDays before it expires or when
// the hostnames change; for secretName, only report. Status: notBefore, notAfter, hostnames, Ready.
import { X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { type KubeObjectLike } from '../kube/client.ts';
import type { PkiCert } from '../api/pkicert.ts';
import { validateObject } from '../api/validate.ts';
import { objectKey, Reasons } from '../render/snapshot.ts';
import { FIELD_MANAGER, type ControllerContext } from './context.ts';
import { renderNamespace } from './snapshot.ts';
import { writeStatus } from './status.ts';
import { Resources } from '../api/resources.ts';

export const PKI_LABEL = 'kubemta.io/pkicert';

function needsIssue(secret: KubeObjectLike | undefined, p: PkiCert, now: Date): string | undefined {
  const crt = (secret?.data as Record<string, string> | undefined)?.['tls.crt'];
  if (!crt) return 'no certificate yet';
  try {
    const x = new X509Certificate(Buffer.from(crt, 'base64'));
    const renewAt = Date.parse(x.validTo) - p.spec.selfSigned!.renewBeforeDays * 86400_000;
    if (now.getTime() >= renewAt) return 'due for renewal';
    const names = (x.subjectAltName ?? '').split(/,\s*/).filter((n) => n.startsWith('DNS:')).map((n) => n.slice(4)).sort();
    if (JSON.stringify(names) !== JSON.stringify([...p.spec.hostnames].sort())) return 'hostnames changed';
    return undefined;
  } catch {
    return 'unreadable certificate';
  }
}

async function issue(p: PkiCert, now: Date): Promise<{ cert: string; key: string }> {
  const ss = p.spec.selfSigned!;
  const pems = await generate([{ name: 'commonName', value: p.spec.hostnames[0] }], {
    keyType: 'rsa',
    keySize: ss.keySize,
    algorithm: 'sha256',
    notBeforeDate: now,
    notAfterDate: new Date(now.getTime() + ss.validityDays * 86400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: p.spec.hostnames.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  return { cert: pems.cert, key: pems.private };
}

export async function reconcilePkiCert(ctx: ControllerContext, key: string): Promise<{ requeueAfterMs?: number } | void> {
  const [ns, name] = key.split('/');
  const raw = ctx.informers.PkiCert.get(ns, name);
  if (!raw) {
    ctx.statusWritten.delete(objectKey('PkiCert', ns, name));
    return;
  }
  const v = validateObject(structuredClone(raw));
  const now = ctx.now();
  let requeueAfterMs: number | undefined;
  let renewAt: number | undefined;
  if (v.ok) {
    const p = v.object as PkiCert;
    if (p.spec.selfSigned) {
      const secretName = `${name}-tls`;
      const secret = ctx.informers.Secret.get(ns, secretName);
      const why = needsIssue(secret, p, now);
      if (why) {
        const { cert, key: pem } = await issue(p, now);
        const manifest = {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'kubernetes.io/tls',
          metadata: {
            name: secretName,
            namespace: ns,
            labels: { [PKI_LABEL]: name, 'app.kubernetes.io/managed-by': 'kubemta-operator' },
            ...(raw.metadata.uid ? { ownerReferences: [{ apiVersion: raw.apiVersion, kind: 'PkiCert', name, uid: raw.metadata.uid, controller: true }] } : {}),
          },
          data: { 'tls.crt': Buffer.from(cert).toString('base64'), 'tls.key': Buffer.from(pem).toString('base64') },
        };
        await ctx.client.apply(Resources.Secret, ns, manifest, FIELD_MANAGER, { force: true });
        ctx.metrics.writes.inc({ kind: 'Secret', verb: 'apply' });
        await ctx.events.record(raw, 'Normal', Reasons.Issued, `issued a self-signed certificate into Secret ${secretName} (${why})`);
        // the Secret's watch event brings us back with the new certificate
        return;
      }
      const x = new X509Certificate(Buffer.from((secret!.data as Record<string, string>)['tls.crt'], 'base64'));
      renewAt = Date.parse(x.validTo) - p.spec.selfSigned.renewBeforeDays * 86400_000;
      requeueAfterMs = Math.min(Math.max(1000, renewAt - now.getTime()), 2 ** 31 - 1);
    }
  }
  const out = renderNamespace(ctx, ns);
  const verdict = out.verdicts.get(objectKey('PkiCert', ns, name))!;
  if (renewAt !== undefined) verdict.status.renewalTime = new Date(renewAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
  for (const k of ['notBefore', 'notAfter'] as const) if (typeof verdict.status[k] === 'string') verdict.status[k] = (verdict.status[k] as string).replace(/\.\d{3}Z$/, 'Z');
  await writeStatus(ctx, 'PkiCert', raw, verdict);
  return requeueAfterMs !== undefined ? { requeueAfterMs } : undefined;
}
