// The operator against a real API server (../shared/k8s/controlplane.sh: etcd, kube-apiserver,
// kube-controller-manager 1.20; no kubelet, so pods stay Pending). The operator runs in-process with
// its own ServiceAccount token and the shipped RBAC, not as admin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as yaml from 'js-yaml';
import { KubeClient, Resources, ApiError, type KubeObjectLike } from '../kube/client.ts';
import { validateConfig } from '../../relay/config/load.ts';
import { Manager } from './manager.ts';
import { seedDocuments } from '../render/testing.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getCrd, getOrUndefined, installCrds, operatorClient, silentLog, skipReason, until } from './testing-cluster.ts';

type Obj = KubeObjectLike & { status?: { conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[]; [k: string]: unknown } };
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');

describe('operator on a real API server', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let manager: Manager;
  let op: { client: KubeClient; cleanup: () => Promise<void> };

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    ns = await createNamespace(admin);
    op = await operatorClient(admin, ns);
    manager = new Manager({ client: op.client, log: silentLog, namespace: ns, leaderElection: { namespace: ns, name: 'kubemta-operator', renewSeconds: 2, leaseSeconds: 6 }, httpPort: 0, httpAddress: '127.0.0.1' });
    await manager.start();
  });

  after(async () => {
    await manager?.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
  });

  const get = (kind: keyof typeof Resources, name: string) => getOrUndefined<Obj>(admin, Resources[kind], ns, name);
  const readyOf = async (kind: keyof typeof Resources, name: string) => ready(await get(kind, name));

  it('installs the CRDs: structural, with status subresource and printer columns', async () => {
    const crd = (await getCrd(admin, 'virtualusers.kubemta.io')) as Obj & { spec: { versions: { additionalPrinterColumns: { name: string }[] }[] } };
    assert.deepEqual(crd.spec.versions[0].additionalPrinterColumns.map((c) => c.name), ['Address', 'LocalPart', 'Domain', 'Ready', 'Reason', 'Age']);
    assert.ok(crd.status?.conditions?.some((c) => c.type === 'NonStructuralSchema') !== true);
  });

  it('reconciles the seed objects (Listings 1–3): every object Ready, the relay config valid, certificates issued, events recorded', async () => {
    await applyDocs(admin, ns, seedDocuments());
    for (const [kind, name] of [['MailServer', 'post'], ['Listener', 'inbound'], ['Listener', 'submission'], ['Listener', 'local'], ['PkiCert', 'post'], ['PkiCert', 'mail'], ['MailDomain', 'example-org'], ['MailDomain', 'brands'], ['VirtualUser', 'max-muster'], ['VirtualUser', 'brands-moritz']] as const) {
      await until(`${kind}/${name} Ready`, async () => (await readyOf(kind, name))?.status === 'True', 60_000);
    }
    const server = (await get('MailServer', 'post'))!;
    assert.equal(server.status!.observedGeneration, server.metadata.generation);
    assert.equal(server.status!.users, 7);
    const cm = (await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> };
    const v = validateConfig(yaml.load(cm.data['relay.yaml']));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    const dep = (await get('Deployment', 'post')) as Obj & { spec: { strategy: { type: string } } };
    assert.equal(dep.spec.strategy.type, 'Recreate');
    const svc = (await get('Service', 'post')) as Obj & { spec: { ports: { port: number }[] } };
    assert.deepEqual(svc.spec.ports.map((p) => p.port), [25, 587]);
    const tls = (await get('Secret', 'post-tls')) as Obj & { type: string };
    assert.equal(tls.type, 'kubernetes.io/tls');
    const pki = (await get('PkiCert', 'post'))!;
    assert.match(String(pki.status!.notAfter), /^\d{4}-\d\d-\d\dT/);
    assert.deepEqual(pki.status!.hostnames, ['post.example.org']);
    const events = await admin.list<Obj & { reason: string; involvedObject: { kind: string; name: string }; message: string }>(Resources.Event, ns);
    const reasons = events.items.map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}:${e.reason}`);
    assert.ok(reasons.includes('MailServer/post:Applied'), reasons.join(' '));
    assert.ok(reasons.includes('PkiCert/post:Issued'), reasons.join(' '));
    assert.ok(!events.items.some((e) => e.message.includes('$2b$')), 'no hash in events');
  });

  it('gives a bad object Ready=False naming the field, and keeps the last good config in place', async () => {
    const cmBefore = (await get('ConfigMap', 'post-config'))!;
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'again' }, spec: { mailServerRef: { name: 'post' }, port: 587 } }]);
    await until('Listener/again Ready=False', async () => (await readyOf('Listener', 'again'))?.reason === 'PortConflict');
    assert.equal((await readyOf('Listener', 'again'))!.message, 'spec.port: port 587 of Service "post" is already used by Listener "submission"');
    await until('MailServer held', async () => (await readyOf('MailServer', 'post'))?.reason === 'HeldByInvalidObjects');
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'lost' }, spec: { mailDomainRef: { name: 'nowhere' }, address: 'lost@example.org', mailbox: 'lost' } }]);
    await until('VirtualUser/lost Ready=False', async () => (await readyOf('VirtualUser', 'lost'))?.message === 'spec.mailDomainRef.name: no MailDomain "nowhere"');
    assert.equal((await get('ConfigMap', 'post-config'))!.metadata.resourceVersion, cmBefore.metadata.resourceVersion, 'the relay config was not touched');
    await admin.delete(Resources.Listener, ns, 'again');
    await admin.delete(Resources.VirtualUser, ns, 'lost');
    await until('MailServer Ready again', async () => (await readyOf('MailServer', 'post'))?.status === 'True');
  });

  it('retries a 409 conflict on an object it owns, taking its fields back', async () => {
    const cm = (await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> };
    const good = cm.data['relay.yaml'];
    await admin.apply(Resources.ConfigMap, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'post-config', namespace: ns }, data: { 'relay.yaml': 'listeners: []\n' } }, 'intruder', { force: true });
    await until('config restored', async () => ((await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> }).data['relay.yaml'] === good);
    // and a plain 409 from a stale resourceVersion is what the lease and the queue retry
    await assert.rejects(admin.update(Resources.ConfigMap, ns, { ...cm, metadata: { ...cm.metadata, resourceVersion: cm.metadata.resourceVersion } }), (e: ApiError) => e.status === 409);
  });

  it('adds a VirtualUser with one table write and its status, without touching the pod template', async () => {
    await manager.idle();
    const dep = (await get('Deployment', 'post'))!;
    const writesBefore = { ...op.client.counts };
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'neu' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'neu@example.org', mailbox: 'neu' } }]);
    await until('VirtualUser/neu Ready', async () => (await readyOf('VirtualUser', 'neu'))?.status === 'True');
    await manager.idle();
    const delta = (verb: string) => (op.client.counts[verb] ?? 0) - (writesBefore[verb] ?? 0);
    assert.equal((await get('Deployment', 'post'))!.metadata.resourceVersion, dep.metadata.resourceVersion);
    assert.equal(delta('apply'), 1, 'one table Secret');
    assert.ok(delta('apply-status') <= 3, `status writes: ${delta('apply-status')}`); // the user, its MailDomain (users count), the MailServer
  });

  it('runs with the shipped least-privilege RBAC, not as admin', async () => {
    await assert.rejects(op.client.list(Resources.Secret, 'kube-system').then(() => op.client.delete(Resources.PersistentVolumeClaim, ns, 'post-queue')), (e: ApiError) => e.status === 403);
    await assert.rejects(op.client.list({ group: '', version: 'v1', plural: 'nodes', kind: 'Node' }), (e: ApiError) => e.status === 403);
    const lease = await admin.get<Obj & { spec: { holderIdentity: string } }>(Resources.Lease, ns, 'kubemta-operator');
    assert.ok(lease.spec.holderIdentity);
    const m = await fetch(`http://127.0.0.1:${manager.port}/metrics`).then((r) => r.text());
    assert.match(m, /kubemta_operator_reconciles_total\{kind="MailServer",result="ok"\} \d+/);
    assert.equal(await fetch(`http://127.0.0.1:${manager.port}/healthz`).then((r) => r.status), 200);
  });

  it('deleting the MailServer garbage-collects what it owns but keeps the queue PVC', async () => {
    await admin.delete(Resources.MailServer, ns, 'post');
    // the garbage collector may take up to ~30 s to notice a new CRD's dependents
    await until('Deployment collected', async () => !(await get('Deployment', 'post')) && !(await get('ConfigMap', 'post-config')) && !(await get('Service', 'post')) && !(await get('Secret', 'post-tables-0')), 90_000);
    assert.ok(await get('PersistentVolumeClaim', 'post-queue'), 'queue PVC retained');
    assert.ok(await get('PersistentVolumeClaim', 'post-mail'), 'mail PVC retained');
    await until('Listener reports its missing server', async () => (await readyOf('Listener', 'inbound'))?.reason === 'MailServerNotFound');
  });
});
