// Two operator replicas on a real API server: one Lease, one writer. The second waits without writing
// anything until the first gives the lease up, then takes over the work.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { Manager } from './manager.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getOrUndefined, installCrds, operatorClient, silentLog, skipReason } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

type Obj = KubeObjectLike & { status?: { conditions?: { type: string; status: string }[] } };
const WRITES = ['apply', 'apply-status', 'delete', 'create'];

describe('operator leader election on a real API server', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let op: Awaited<ReturnType<typeof operatorClient>>;
  const managers: Manager[] = [];

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    ns = await createNamespace(admin, 'kubemta-leader');
    op = await operatorClient(admin, ns);
  });
  after(async () => {
    for (const m of managers) await m.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
  });

  const replica = async (identity: string) => {
    // each replica its own connection and request counts, the same ServiceAccount
    const client = admin.withToken(op.token);
    const m = new Manager({ client, log: silentLog, namespace: ns, leaderElection: { namespace: ns, name: 'kubemta-operator', identity, renewSeconds: 1, leaseSeconds: 4 }, relayCheck: false });
    managers.push(m);
    await m.start();
    return { m, client };
  };
  const leading = async (m: Manager) => (await m.ctx.metrics.leader.get()).values[0]?.value === 1;
  const writes = (c: KubeClient) => WRITES.reduce((n, v) => n + (c.counts[v] ?? 0), 0);
  const readyOf = async (kind: 'MailServer' | 'VirtualUser', name: string) => (await getOrUndefined<Obj>(admin, Resources[kind], ns, name))?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

  it('lets one replica write while the other waits, and hands over when the leader stops', async () => {
    await applyDocs(admin, ns, seedDocuments());
    const a = await replica('replica-a');
    await until('replica-a leads', () => leading(a.m), 20_000);
    const b = await replica('replica-b');
    await until('seed reconciled by a', async () => (await readyOf('MailServer', 'post')) === 'True', 60_000);
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'during' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'during@example.org', mailbox: 'during' } }]);
    await until('VirtualUser/during Ready (by a)', async () => (await readyOf('VirtualUser', 'during')) === 'True', 60_000);
    await new Promise((r) => setTimeout(r, 3000)); // several of b's election attempts
    assert.equal(await leading(b.m), false);
    assert.equal(writes(b.client), 0, `the waiting replica wrote: ${JSON.stringify(b.client.counts)}`);
    assert.ok(writes(a.client) > 10);
    const lease = await admin.get<KubeObjectLike & { spec: { holderIdentity: string } }>(Resources.Lease, ns, 'kubemta-operator');
    assert.equal(lease.spec.holderIdentity, 'replica-a');

    const t = Date.now();
    await a.m.stop(); // gives the lease up
    await until('replica-b leads', () => leading(b.m), 20_000);
    const handover = Date.now() - t;
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'after' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'after@example.org', mailbox: 'after' } }]);
    await until('VirtualUser/after Ready (by b)', async () => (await readyOf('VirtualUser', 'after')) === 'True', 60_000);
    assert.ok(writes(b.client) > 0);
    assert.ok(handover < 5000, `handover took ${handover} ms`);
    process.stdout.write(`# leader handover after a clean stop: ${handover} ms\n`);
  });
});
