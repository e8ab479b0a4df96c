// 10,000 VirtualUsers (KUBEMTA_SCALE_USERS) on a real API server: how long until all are in the relay's tables, how many API
// writes that takes, and the writes one changed user costs. Slow (creating 10,000 objects): runs only
// with KUBEMTA_SCALE=1 besides KUBEMTA_CLUSTER=1. Figures go to stdout as `# …` lines (docs/operator.md).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { Manager } from './manager.ts';
import { seedDocuments, DEMO_HASH } from '../../test/render-kit.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getOrUndefined, installCrds, operatorClient, silentLog, skipReason } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

const COUNT = Number(process.env.KUBEMTA_SCALE_USERS ?? 10_000);
const enabled = clusterEnabled && process.env.KUBEMTA_SCALE === '1';
type Obj = KubeObjectLike & { status?: { users?: number; tableShards?: number; conditions?: { type: string; status: string; reason?: string; message?: string }[] } };

async function parallel<T>(items: T[], n: number, f: (x: T) => Promise<unknown>): Promise<void> {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await f(items[i++]);
  }));
}

describe(`operator with ${COUNT} VirtualUsers`, { skip: enabled ? false : `${skipReason} KUBEMTA_SCALE=1` }, () => {
  let admin: KubeClient;
  let ns: string;
  let manager: Manager;
  let op: { client: KubeClient; cleanup: () => Promise<void> };
  const log = (s: string) => process.stdout.write(`# ${s}\n`);

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    ns = await createNamespace(admin, 'kubemta-scale');
    op = await operatorClient(admin, ns);
  });
  after(async () => {
    await manager?.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
  });

  it('renders and applies them in seconds, and one changed user costs one table write plus its status', async () => {
    await applyDocs(admin, ns, seedDocuments());
    // the users' password hashes, 10,000 to a Secret (one Secret of 100,000 would pass the 1 MiB limit)
    const hashSecret = (i: number) => `user-hashes-${Math.floor(i / 10_000)}`;
    for (let first = 0; first < COUNT; first += 10_000) {
      const keys = Array.from({ length: Math.min(10_000, COUNT - first) }, (_, j) => [`user${first + j}`, DEMO_HASH]);
      await admin.apply(Resources.Secret, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: hashSecret(first), namespace: ns }, stringData: Object.fromEntries(keys) }, 'kubectl');
    }
    const users = Array.from({ length: COUNT }, (_, i) => ({
      apiVersion: 'kubemta.io/v1alpha1',
      kind: 'VirtualUser',
      metadata: { name: `user${i}`, namespace: ns },
      spec: { mailDomainRef: { name: 'example-org' }, address: `user${i}@example.org`, mailbox: `user${i}`, login: { passwordHashSecretRef: { name: hashSecret(i), key: `user${i}` } } },
    }));
    let t = Date.now();
    await parallel(users, 16, (u) => admin.create(Resources.VirtualUser, ns, u));
    log(`created ${COUNT} VirtualUsers through the API in ${((Date.now() - t) / 1000).toFixed(1)} s (test client, 16 in flight)`);

    // the operator starts with everything present: first full reconcile
    manager = new Manager({ client: op.client, log: silentLog, namespace: ns, leaderElection: false, workers: 16, relayCheck: false });
    t = Date.now();
    const cpu0 = process.cpuUsage();
    await manager.start();
    const synced = Date.now() - t;
    // Ready (relayCheck off: the render applied) with every user: a held server counts its users too
    let server: Obj | undefined;
    const ready = await until('all users in the tables', async () => {
      server = await getOrUndefined<Obj>(admin, Resources.MailServer, ns, 'post');
      const c = server?.status?.conditions?.find((x) => x.type === 'Ready');
      return c && (c.reason === 'TableTooLarge' || ((server?.status?.users ?? 0) >= COUNT + 7 && c.status === 'True')) && c;
    }, 600_000);
    assert.equal(ready.status, 'True', ready.message);
    const applied = Date.now() - t;
    log(`table Secrets: status.tableShards ${server!.status!.tableShards} (spec.tableShards 4, the default)`);
    await manager.idle(3_000_000); // 100,000 status writes at the API server's pace
    const allStatus = Date.now() - t;
    const c0 = { ...op.client.counts };
    const cpu = process.cpuUsage(cpu0);
    const requests = Object.values(c0).reduce((a, n) => a + n, 0);
    log(`CPU of this process for it: ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (${((cpu.user + cpu.system) / 1e3 / requests).toFixed(2)} ms per API request, render included)`);
    log(`operator start: caches synced in ${(synced / 1000).toFixed(1)} s; relay config and tables applied after ${(applied / 1000).toFixed(1)} s; all ${COUNT + 16} statuses written after ${(allStatus / 1000).toFixed(1)} s`);
    log(`API requests for the first reconcile: ${JSON.stringify(c0)}`);
    const mem = process.memoryUsage();
    log(`memory of this process (operator and test client) after it: rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap used ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`);
    const durations = await manager.ctx.metrics.duration.get();
    const ms = durations.values.filter((v) => v.labels.kind === 'MailServer' && v.metricName?.endsWith('_sum'))[0]?.value;
    const n = durations.values.filter((v) => v.labels.kind === 'MailServer' && v.metricName?.endsWith('_count'))[0]?.value;
    if (ms && n) log(`MailServer reconcile (render + compare + apply): ${((ms / n) * 1000).toFixed(0)} ms mean over ${n}`);
    const tables = (await admin.list<KubeObjectLike & { data?: Record<string, string> }>(Resources.Secret, ns, 'app.kubernetes.io/component=tables')).items;
    assert.equal(tables.length, server!.status!.tableShards);
    for (const s of tables) {
      const bytes = Object.values(s.data ?? {}).reduce((a, v) => a + Buffer.from(v, 'base64').length, 0);
      log(`${s.metadata.name}: ${Object.keys(s.data ?? {}).join(', ') || '(empty)'} — ${bytes} bytes`);
      assert.ok(bytes < 1024 * 1024);
    }

    // one user changes: count the writes
    t = Date.now();
    const u = await admin.get<Obj & { spec: { mailbox: string } }>(Resources.VirtualUser, ns, 'user42');
    await admin.update(Resources.VirtualUser, ns, { ...u, spec: { ...u.spec, mailbox: 'elsewhere' } });
    await until('user42 observed', async () => (await admin.get<Obj & { status: { observedGeneration?: number } }>(Resources.VirtualUser, ns, 'user42')).status?.observedGeneration === 2, 60_000);
    const changeMs = Date.now() - t;
    await manager.idle(60_000);
    const c1 = op.client.counts;
    const delta = Object.fromEntries(Object.keys(c1).map((k) => [k, (c1[k] ?? 0) - (c0[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
    log(`one changed VirtualUser: status Ready after ${changeMs} ms; API requests ${JSON.stringify(delta)}`);
    assert.equal(delta.apply, 1);

    // one user added (with a login): its table parts, its status, the MailDomain's and MailServer's counts
    const c2 = { ...op.client.counts };
    t = Date.now();
    await admin.create(Resources.VirtualUser, ns, { ...users[0], metadata: { name: 'added', namespace: ns }, spec: { ...users[0].spec, address: 'added@example.org', mailbox: 'added' } });
    await until('added Ready', async () => (await admin.get<Obj>(Resources.VirtualUser, ns, 'added')).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), 60_000);
    const addMs = Date.now() - t;
    await manager.idle(60_000);
    const added = Object.fromEntries(Object.keys(op.client.counts).map((k) => [k, (op.client.counts[k] ?? 0) - (c2[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
    log(`one added VirtualUser with a login: Ready after ${addMs} ms; API requests ${JSON.stringify(added)}`);
    assert.ok(added.apply <= 2, 'the parts holding its virtual entry and its login');
  });
});
