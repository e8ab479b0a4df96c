// A selfSigned PkiCert on a real API server: issued into <name>-tls, issued again when its hostnames
// change, and renewed renewBeforeDays before it expires (an operator whose clock runs 61 days ahead).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { Manager } from './manager.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getOrUndefined, installCrds, operatorClient, silentLog, skipReason } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

type Pki = KubeObjectLike & { spec: { hostnames: string[] }; status?: { notAfter?: string; renewalTime?: string; hostnames?: string[]; conditions?: { type: string; status: string }[] } };
const DAY = 86400_000;

describe('PkiCert selfSigned on a real API server', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let op: Awaited<ReturnType<typeof operatorClient>>;
  let manager: Manager | undefined;

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    ns = await createNamespace(admin, 'kubemta-pki');
    op = await operatorClient(admin, ns);
  });
  after(async () => {
    await manager?.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
  });

  const start = async (skewDays: number) => {
    await manager?.stop();
    manager = new Manager({ client: op.client, log: silentLog, namespace: ns, leaderElection: false, now: () => new Date(Date.now() + skewDays * DAY), relayCheck: false });
    await manager.start();
  };
  const cert = async () => {
    const s = await getOrUndefined<KubeObjectLike & { data?: Record<string, string> }>(admin, Resources.Secret, ns, 'post-tls');
    return s?.data?.['tls.crt'] ? new X509Certificate(Buffer.from(s.data['tls.crt'], 'base64')) : undefined;
  };
  const pki = () => admin.get<Pki>(Resources.PkiCert, ns, 'post');

  it('issues, issues again for new hostnames, and renews before expiry', async () => {
    await start(0);
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'PkiCert', metadata: { name: 'post' }, spec: { hostnames: ['post.example.org'], selfSigned: {} } }]);
    const first = await until('issued', cert, 60_000);
    assert.equal(first.subjectAltName, 'DNS:post.example.org');
    const ready = await until('Ready with notAfter', async () => {
      const p = await pki();
      return p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && p.status.notAfter ? p : undefined;
    }, 60_000);
    assert.equal(Date.parse(ready.status!.notAfter!), Date.parse(first.validTo));
    assert.equal(Date.parse(ready.status!.renewalTime!), Date.parse(first.validTo) - 30 * DAY, 'renewal due renewBeforeDays (30) before the end of 90 days');

    const p = await pki();
    await admin.update(Resources.PkiCert, ns, { ...p, spec: { ...p.spec, hostnames: ['post.example.org', 'mx.example.org'] } });
    const second = await until('issued for the new hostnames', async () => ((await cert())?.subjectAltName?.includes('mx.example.org') ? cert() : undefined), 60_000);
    await until('status lists them', async () => JSON.stringify((await pki()).status?.hostnames) === '["post.example.org","mx.example.org"]', 60_000);

    await start(61); // 90-day certificate, renewal 30 days before the end: due after day 60
    const third = await until('renewed', async () => {
      const c = await cert();
      return c && c.serialNumber !== second!.serialNumber ? c : undefined;
    }, 60_000);
    assert.ok(Date.parse(third.validTo) > Date.parse(second!.validTo) + 60 * DAY, `${third.validTo} vs ${second!.validTo}`);
    // the Event is written after the Secret it reports: wait for it rather than read once
    let events: string[] = [];
    await until('the renewal Event', async () => {
      events = (await admin.list<KubeObjectLike & { reason: string; message: string }>(Resources.Event, ns)).items.map((e) => `${e.reason}: ${e.message}`);
      return events.some((e) => /^Issued: .*\(due for renewal\)$/.test(e));
    }, 10_000).catch(() => undefined);
    assert.ok(events.some((e) => /^Issued: .*\(hostnames changed\)$/.test(e)), events.join('\n'));
    assert.ok(events.some((e) => /^Issued: .*\(due for renewal\)$/.test(e)), events.join('\n'));
  });
});
