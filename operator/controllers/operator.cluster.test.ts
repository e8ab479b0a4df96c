// The operator against a real API server (e2e/cluster/cluster.sh: etcd, kube-apiserver,
// kube-controller-manager 1.20; no kubelet, so pods stay Pending). The operator runs in-process with
// its own ServiceAccount token and the shipped RBAC, not as admin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { pino } from 'pino';
import { KubeClient, ApiError, type KubeObjectLike, type Resource } from '../kube/client.ts';
import { validateConfig } from '../../relay/config/index.ts';
import { Manager } from './manager.ts';
import { seedDocuments, DEMO_HASH } from '../../test/render-kit.ts';
import { applyDocs, clusterEnabled, DRAIN_PERMISSIONS, createNamespace, deleteNamespace, getCrd, getOrUndefined, installCrds, operatorClient, silentLog, skipReason } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

type Obj = KubeObjectLike & { status?: { conditions?: { type: string; status: string; reason: string; message: string; observedGeneration?: number }[]; [k: string]: unknown } };
type Spec = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- objects as the API returns them
const ready = (o: Obj | undefined) => o?.status?.conditions?.find((c) => c.type === 'Ready');
const Pod: Resource = { group: '', version: 'v1', plural: 'pods', kind: 'Pod' };
const api = 'kubemta.io/v1alpha1';
const CRD: Resource = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
/** Cluster-scoped objects a test installed (the ServiceMonitor CRD), removed in after(). */
const crdsToRemove: string[] = [];

/** Every line the operator logs (debug and up), to check that no Secret content is among them. */
const logLines: string[] = [];
const log = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(line) });

/** The RBAC rules of operator/rbac/rbac.yaml as `<group>/<resource> <verb>` (the form KubeClient notes). */
function shippedPermissions(): string[] {
  const out: string[] = [];
  for (const d of yaml.loadAll(readFileSync(new URL('../rbac/rbac.yaml', import.meta.url), 'utf8')) as { kind: string; rules?: { apiGroups: string[]; resources: string[]; verbs: string[] }[] }[]) {
    for (const r of d.rules ?? []) for (const g of r.apiGroups) for (const res of r.resources) for (const v of r.verbs) out.push(`${g}/${res} ${v}`);
  }
  return [...new Set(out)].sort();
}

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
    manager = new Manager({ client: op.client, log, namespace: ns, leaderElection: { namespace: ns, name: 'kubemta-operator', renewSeconds: 2, leaseSeconds: 6 }, httpPort: 0, httpAddress: '127.0.0.1', relayCheck: false });
    await manager.start();
  });

  after(async () => {
    await manager?.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
    for (const name of crdsToRemove) await admin.delete(CRD, '', name);
  });

  const get = (kind: keyof typeof Resources, name: string) => getOrUndefined<Obj>(admin, Resources[kind], ns, name);
  const readyOf = async (kind: keyof typeof Resources, name: string) => ready(await get(kind, name));
  /** kubectl edit: read, change, write back (again on a 409 from a concurrent status write). */
  const edit = async (kind: keyof typeof Resources, name: string, change: (spec: Spec) => void) => {
    await until(`${kind}/${name} edited`, async () => {
      const o = (await admin.get<Obj & { spec: Spec }>(Resources[kind], ns, name));
      change(o.spec);
      await admin.update(Resources[kind], ns, o);
      return true;
    }, 60_000);
  };
  const serverSettled = async () => {
    await manager.idle();
    await until('MailServer Ready', async () => (await readyOf('MailServer', 'post'))?.status === 'True', 60_000);
  };

  it('installs the CRDs: structural, with status subresource and printer columns', async () => {
    const crd = (await getCrd(admin, 'virtualusers.kubemta.io')) as Obj & { spec: { versions: { additionalPrinterColumns: { name: string }[] }[] } };
    assert.deepEqual(crd.spec.versions[0].additionalPrinterColumns.map((c) => c.name), ['Address', 'Domain', 'Server', 'Ready', 'Reason', 'Age']);
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
    await until('Listener/again Ready=False', async () => (await readyOf('Listener', 'again'))?.reason === 'PortConflict', 60_000);
    assert.equal((await readyOf('Listener', 'again'))!.message, 'spec.port: port 587 of Service "post" is already used by Listener "submission"');
    await until('MailServer held', async () => (await readyOf('MailServer', 'post'))?.reason === 'HeldByInvalidObjects', 60_000);
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'lost' }, spec: { mailDomainRef: { name: 'nowhere' }, address: 'lost@example.org', mailbox: 'lost' } }]);
    await until('VirtualUser/lost Ready=False', async () => (await readyOf('VirtualUser', 'lost'))?.message === 'spec.mailDomainRef.name: no MailDomain "nowhere"', 60_000);
    assert.equal((await get('ConfigMap', 'post-config'))!.metadata.resourceVersion, cmBefore.metadata.resourceVersion, 'the relay config was not touched');
    await admin.delete(Resources.Listener, ns, 'again');
    await admin.delete(Resources.VirtualUser, ns, 'lost');
    await until('MailServer Ready again', async () => (await readyOf('MailServer', 'post'))?.status === 'True', 60_000);
  });

  it('retries a 409 conflict on an object it owns, taking its fields back', async () => {
    const cm = (await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> };
    const good = cm.data['relay.yaml'];
    await admin.apply(Resources.ConfigMap, ns, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'post-config', namespace: ns }, data: { 'relay.yaml': 'listeners: []\n' } }, 'intruder', { force: true });
    await until('config restored', async () => ((await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> }).data['relay.yaml'] === good, 60_000);
    const conflicts = (await manager.ctx.metrics.conflicts.get()).values.find((v) => v.labels.kind === 'ConfigMap')?.value;
    assert.ok((conflicts ?? 0) >= 1, 'the operator met the 409 and retried with force');
    // and a plain 409 from a stale resourceVersion is what the lease and the queue retry
    await assert.rejects(admin.update(Resources.ConfigMap, ns, { ...cm, metadata: { ...cm.metadata, resourceVersion: cm.metadata.resourceVersion } }), (e: ApiError) => e.status === 409);
  });

  it('adds a VirtualUser with one table write and its status, without touching the pod template', async () => {
    await manager.idle();
    const dep = (await get('Deployment', 'post'))!;
    const writesBefore = { ...op.client.counts };
    await applyDocs(admin, ns, [{ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'neu' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'neu@example.org', mailbox: 'neu' } }]);
    await until('VirtualUser/neu Ready', async () => (await readyOf('VirtualUser', 'neu'))?.status === 'True', 60_000);
    await manager.idle();
    const delta = (verb: string) => (op.client.counts[verb] ?? 0) - (writesBefore[verb] ?? 0);
    assert.equal((await get('Deployment', 'post'))!.metadata.resourceVersion, dep.metadata.resourceVersion);
    assert.equal(delta('apply'), 1, 'one table Secret');
    assert.ok(delta('apply-status') <= 3, `status writes: ${delta('apply-status')}`); // the user, its MailDomain (users count), the MailServer
  });

  it('nudges the running relay pod (an annotation, not the template) when a table or a TLS Secret changes, and only then', async () => {
    await manager.idle();
    // the Deployment's own pod (Pending without a node): a bare Pod with these labels would be adopted by the ReplicaSet
    const selector = 'app.kubernetes.io/name=kubemta,app.kubernetes.io/instance=post';
    const relayPod = async () => (await admin.list<Obj>(Pod, ns, selector)).items.find((p) => !p.metadata.deletionTimestamp);
    const pod0 = await until('the relay pod', relayPod, 60_000);
    const hashOn = (p: Obj | undefined) => p?.metadata.annotations?.['kubemta.io/volumes-hash'];
    const dep = (await get('Deployment', 'post'))!;
    const nudges = async () => (await manager.ctx.metrics.podNudges.get()).values[0]?.value ?? 0;
    const n0 = await nudges();
    let before = { ...op.client.counts };
    const delta = (verb: string) => (op.client.counts[verb] ?? 0) - (before[verb] ?? 0);

    // a VirtualUser changes: its table Secret is rewritten, then the pod is annotated
    let t = Date.now();
    await edit('VirtualUser', 'neu', (s) => (s.mailbox = 'neu2'));
    const pod1 = await until('volumes-hash set on the pod', async () => {
      const p = await relayPod();
      return hashOn(p) && hashOn(p) !== hashOn(pod0) ? p : undefined;
    }, 60_000);
    const userMs = Date.now() - t;
    await manager.idle();
    assert.equal(pod1.metadata.uid, pod0.metadata.uid, 'the same pod');
    assert.equal((await get('Deployment', 'post'))!.metadata.resourceVersion, dep.metadata.resourceVersion, 'the pod template untouched');
    assert.match(String(hashOn(pod1)), /^[0-9a-f]{16}$/);
    assert.equal(delta('patch'), 1, 'one pod patched once');
    assert.equal(await nudges(), n0 + 1);
    assert.ok(logLines.some((l) => l.includes('"msg":"pod nudged') && l.includes(pod0.metadata.name)), 'logged');

    // an unchanged reconcile: no pod listed, none written
    before = { ...op.client.counts };
    manager.queues.MailServer.add(`${ns}/post`);
    await new Promise((r) => setTimeout(r, 200));
    await manager.idle();
    assert.deepEqual({ list: delta('list'), patch: delta('patch'), apply: delta('apply') }, { list: 0, patch: 0, apply: 0 });

    // a certificate rotated in a PkiCert's Secret by someone else (cert-manager): the operator writes
    // nothing, but what the pod mounts changed
    const { generate } = await import('selfsigned');
    const pems = await generate([{ name: 'commonName', value: 'post.example.org' }], {
      keyType: 'rsa', keySize: 2048, algorithm: 'sha256', notAfterDate: new Date(Date.now() + 60 * 86400_000),
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 2 as const, value: 'post.example.org' }] }],
    });
    before = { ...op.client.counts };
    t = Date.now();
    await admin.apply(Resources.Secret, ns, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'post-tls', namespace: ns }, data: { 'tls.crt': Buffer.from(pems.cert).toString('base64'), 'tls.key': Buffer.from(pems.private).toString('base64') } }, 'cert-manager', { force: true });
    const pod2 = await until('volumes-hash changed again', async () => {
      const p = await relayPod();
      return hashOn(p) !== hashOn(pod1) ? p : undefined;
    }, 60_000);
    const certMs = Date.now() - t;
    await manager.idle();
    assert.equal(pod2.metadata.uid, pod0.metadata.uid);
    assert.equal(delta('apply'), 0, 'a Secret the operator keeps is not rewritten');
    assert.equal(delta('patch'), 1);
    process.stderr.write(`[operator] pod nudged ${userMs} ms after a VirtualUser edit, ${certMs} ms after a TLS Secret rotation\n`);
  });

  it('runs with the shipped least-privilege RBAC, not as admin', async () => {
    // the ConfigMap is always rendered, never deleted (PVCs may be: a drained queue claim, docs/scaling.md)
    await assert.rejects(op.client.list(Resources.Secret, 'kube-system').then(() => op.client.delete(Resources.ConfigMap, ns, 'post-config')), (e: ApiError) => e.status === 403);
    await assert.rejects(op.client.list({ group: '', version: 'v1', plural: 'nodes', kind: 'Node' }), (e: ApiError) => e.status === 403);
    const lease = await admin.get<Obj & { spec: { holderIdentity: string } }>(Resources.Lease, ns, 'kubemta-operator');
    assert.ok(lease.spec.holderIdentity);
    const m = await fetch(`http://127.0.0.1:${manager.port}/metrics`).then((r) => r.text());
    assert.match(m, /kubemta_operator_reconciles_total\{kind="MailServer",result="ok"\} [1-9]\d*/);
    assert.match(m, /kubemta_operator_reconciles_total\{kind="VirtualUser",result="error"\} \d+/, 'errors are counted (from 0)');
    assert.match(m, /kubemta_operator_reconcile_seconds_bucket\{le="0\.1",kind="MailServer"\} \d+/, 'durations');
    assert.match(m, /kubemta_operator_apply_conflicts_total\{kind="ConfigMap"\} [1-9]/);
    assert.equal(await fetch(`http://127.0.0.1:${manager.port}/healthz`).then((r) => r.status), 200);
  });

  it('serves a MailDomain with a wildcard top-level domain (example.*) and warns in its status and an Event', async () => {
    await applyDocs(admin, ns, [
      { apiVersion: api, kind: 'MailDomain', metadata: { name: 'tld' }, spec: { mailServerRef: { name: 'post' }, domains: ['example.*'], priority: 200 } },
      { apiVersion: api, kind: 'VirtualUser', metadata: { name: 'wild' }, spec: { mailDomainRef: { name: 'tld' }, address: 'wild@example.shop', mailbox: 'wild' } },
    ]);
    await until('VirtualUser/wild Ready', async () => (await readyOf('VirtualUser', 'wild'))?.status === 'True', 60_000);
    const d = await until('MailDomain/tld Ready with its warning', async () => {
      const o = await get('MailDomain', 'tld');
      return o && ready(o)?.status === 'True' && (o.status?.warnings as string[] | undefined)?.length ? o : undefined;
    }, 30_000);
    assert.match(String((d.status!.warnings as string[])[0]), /^spec\.domains: "example\.\*" is a wildcard top-level domain/);
    // the member's status and the ConfigMap are separate writes of the same reconcile: wait for the latter
    const rule = await until('the rule of MailDomain/tld in the relay config', async () => {
      const cm = (await get('ConfigMap', 'post-config')) as Obj & { data: Record<string, string> };
      return (yaml.load(cm.data['relay.yaml']) as { rules: { name: string; for: unknown }[] }).rules.find((r) => r.name === 'domain-tld');
    }, 30_000);
    assert.deepEqual(rule.for, { domain: 'example.*' });
    await until('a Warning Event on MailDomain/tld', async () => {
      const events = await admin.list<Obj & { reason: string; type: string; involvedObject: { name: string } }>(Resources.Event, ns);
      return events.items.some((e) => e.involvedObject.name === 'tld' && e.type === 'Warning' && /wildcard top-level domain/.test(String(e.message)));
    }, 30_000);
  });

  it('never shows Secret content in logs, Events or status, also a clear password put where a hash belongs', async () => {
    await applyDocs(admin, ns, [
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'oops' }, stringData: { password: 'hunter2-cleartext' } },
      { apiVersion: api, kind: 'VirtualUser', metadata: { name: 'oops' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'oops@example.org', mailbox: 'oops', login: { passwordHashSecretRef: { name: 'oops' } } } },
    ]);
    await until('VirtualUser/oops Ready=False', async () => (await readyOf('VirtualUser', 'oops'))?.reason === 'InvalidSpec', 60_000);
    await admin.delete(Resources.VirtualUser, ns, 'oops');
    await serverSettled();
    const key = Buffer.from(String(((await get('Secret', 'post-tls')) as Obj & { data: Record<string, string> }).data['tls.key']), 'base64').toString('utf8');
    const keyBody = key.split('\n').filter((l) => l && !l.startsWith('-----'));
    const secrets = ['hunter2', DEMO_HASH, DEMO_HASH.slice(7, 40), ...keyBody.slice(1, 4)];
    const statuses: unknown[] = [];
    for (const kind of ['MailServer', 'Listener', 'PkiCert', 'MailDomain', 'VirtualUser'] as const) statuses.push(...(await admin.list<Obj>(Resources[kind], ns)).items.map((o) => o.status));
    const events = (await admin.list<Obj>(Resources.Event, ns)).items.map((e) => e.message);
    assert.ok(logLines.length > 50 && logLines.some((l) => l.includes('"msg":"status written"')), 'debug logging was on');
    for (const [where, text] of [['logs', logLines.join('\n')], ['status', JSON.stringify(statuses)], ['events', JSON.stringify(events)]] as const) {
      for (const secret of secrets) assert.ok(!text.includes(secret), `${where} contain Secret content (${secret.slice(0, 6)}…)`);
    }
  });

  it('rewrites nothing when the operator restarts on an unchanged cluster (every object compared, none written)', async () => {
    await serverSettled();
    await manager.stop();
    const before = { ...op.client.counts };
    manager = new Manager({ client: op.client, log, namespace: ns, leaderElection: { namespace: ns, name: 'kubemta-operator', renewSeconds: 2, leaseSeconds: 6 }, httpPort: 0, httpAddress: '127.0.0.1', relayCheck: false });
    await manager.start();
    await until('elected', async () => (await manager.ctx.metrics.leader.get()).values[0]?.value === 1, 20_000);
    await new Promise((r) => setTimeout(r, 500));
    await manager.idle();
    const delta = (verb: string) => (op.client.counts[verb] ?? 0) - (before[verb] ?? 0);
    assert.deepEqual({ apply: delta('apply'), status: delta('apply-status'), delete: delta('delete'), events: delta('create'), pods: delta('patch') }, { apply: 0, status: 0, delete: 0, events: 0, pods: 0 });
    const skipped = (await manager.ctx.metrics.skipped.get()).values.reduce((n, v) => n + v.value, 0);
    assert.ok(skipped >= 9, `compared and skipped: ${skipped}`);
  });

  it('runs replicas > 1 as a StatefulSet with a queue and a mail volume per replica, and back', async () => {
    await edit('MailServer', 'post', (s) => (s.replicas = 3));
    await until('StatefulSet and its volume claims', async () => {
      const claims = await Promise.all([0, 1, 2].flatMap((i) => [`queue-post-${i}`, `mail-post-${i}`]).map((n) => get('PersistentVolumeClaim', n)));
      return !!(await get('StatefulSet', 'post')) && !(await get('Deployment', 'post')) && claims.every(Boolean);
    }, 60_000);
    const sts = (await get('StatefulSet', 'post')) as Obj & { spec: Spec };
    assert.equal(sts.spec.replicas, 3);
    assert.equal(sts.spec.serviceName, 'post-pods');
    assert.deepEqual(sts.spec.volumeClaimTemplates.map((v: Spec) => v.metadata.name), ['queue', 'mail']);
    assert.ok(await get('Service', 'post-pods'), 'the headless Service the StatefulSet names');
    const pdb = (await get('PodDisruptionBudget', 'post')) as Obj & { spec: Spec };
    assert.deepEqual([pdb.apiVersion, pdb.spec.maxUnavailable], ['policy/v1beta1', 1], 'more than one replica: a PodDisruptionBudget');
    await until('status names the StatefulSet', async () => (await get('MailServer', 'post'))?.status?.workload === 'StatefulSet/post', 60_000);

    // a volume claim template cannot change in place: the StatefulSet is replaced, its pods and claims stay
    const pod = await until('pod post-0', () => getOrUndefined<Obj>(admin, Pod, ns, 'post-0'), 60_000);
    await edit('MailServer', 'post', (s) => (s.queue = { ...s.queue, size: '2Gi' }));
    await until('StatefulSet replaced with the new claim size', async () => {
      const x = (await get('StatefulSet', 'post')) as (Obj & { spec: Spec }) | undefined;
      return x && x.metadata.uid !== sts.metadata.uid && x.spec.volumeClaimTemplates[0].spec.resources.requests.storage === '2Gi';
    }, 60_000);
    await serverSettled();
    const adopted = await until('pod post-0 adopted', async () => {
      const p = await getOrUndefined<Obj & { metadata: { ownerReferences?: { uid: string }[] } }>(admin, Pod, ns, 'post-0');
      const owner = (await get('StatefulSet', 'post'))!.metadata.uid;
      return p?.metadata.ownerReferences?.[0]?.uid === owner ? p : undefined;
    }, 60_000);
    assert.equal(adopted.metadata.uid, pod.metadata.uid, 'the pod was not recreated');
    assert.ok(await get('PersistentVolumeClaim', 'queue-post-0'));

    await edit('MailServer', 'post', (s) => (s.replicas = 1));
    await until('Deployment back, StatefulSet gone', async () => !!(await get('Deployment', 'post')) && !(await get('StatefulSet', 'post')) && !(await get('Service', 'post-pods')) && !(await get('PodDisruptionBudget', 'post')), 60_000);
    assert.ok(await get('PersistentVolumeClaim', 'queue-post-2'), 'a replica\'s queue volume outlives its StatefulSet (mail is data)');
    await serverSettled();
  });

  it('prunes what it no longer renders: table Secrets above tableShards, a Service no Listener uses', async () => {
    await edit('MailServer', 'post', (s) => (s.tableShards = 2));
    await until('post-tables-2 and -3 deleted', async () => !(await get('Secret', 'post-tables-2')) && !(await get('Secret', 'post-tables-3')) && !!(await get('Secret', 'post-tables-1')), 60_000);
    await edit('Listener', 'inbound', (s) => (s.service = { ...s.service, name: 'mx' }));
    await until('Service mx', async () => ((await get('Service', 'mx')) as (Obj & { spec: Spec }) | undefined)?.spec.ports[0].port === 25, 60_000);
    await edit('Listener', 'inbound', (s) => (s.service = { type: 'None' }));
    await until('Service mx deleted', async () => !(await get('Service', 'mx')), 60_000);
    assert.deepEqual(((await get('Service', 'post')) as Obj & { spec: Spec }).spec.ports.map((p: Spec) => p.port), [587]);
    await serverSettled();
  });

  it('renders the ServiceMonitor asked for; without its CRD says so in status.warnings and a Warning event and stays Ready', async () => {
    // a minimal structural CRD of the Prometheus Operator's group, version and kind (not its full schema)
    const smCrd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'servicemonitors.monitoring.coreos.com' },
      spec: {
        group: 'monitoring.coreos.com',
        scope: 'Namespaced',
        names: { plural: 'servicemonitors', singular: 'servicemonitor', kind: 'ServiceMonitor', listKind: 'ServiceMonitorList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    };
    assert.equal(await getOrUndefined(admin, CRD, '', smCrd.metadata.name), undefined, 'this cluster has no ServiceMonitor CRD of its own');
    await edit('MailServer', 'post', (s) => (s.metrics = { serviceMonitor: { enabled: true, interval: '30s', labels: { release: 'prometheus' } } }));
    const warned = await until('status.warnings', async () => ((await get('MailServer', 'post'))?.status?.warnings as string[] | undefined)?.[0], 60_000);
    assert.match(warned, /^spec\.metrics\.serviceMonitor: the API server does not serve ServiceMonitor \(monitoring\.coreos\.com\/v1\); install the Prometheus Operator's CRD servicemonitors\.monitoring\.coreos\.com/);
    assert.equal((await readyOf('MailServer', 'post'))?.status, 'True', 'mail flows without it');
    await until('a Warning event naming the CRD', async () => (await admin.list<Obj & { type: string; message: string; involvedObject: { kind: string } }>(Resources.Event, ns)).items.some((e) => e.involvedObject.kind === 'MailServer' && e.type === 'Warning' && e.message === warned), 30_000);

    await admin.apply(CRD, '', smCrd as KubeObjectLike, 'kubemta-tests', { force: true });
    crdsToRemove.push(smCrd.metadata.name);
    await until('CRD established', async () => (await getOrUndefined<Obj>(admin, CRD, '', smCrd.metadata.name))?.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'), 60_000);
    // the operator looks again every minute; a change of the MailServer is a turn at once
    await edit('MailServer', 'post', (s) => (s.metrics.serviceMonitor.interval = '15s'));
    const SM = Resources.ServiceMonitor;
    const sm = await until('ServiceMonitor post-metrics', () => getOrUndefined<Obj & { spec: Spec }>(admin, SM, ns, 'post-metrics'), 90_000);
    const svc = (await get('Service', 'post-metrics'))!;
    assert.equal(sm.metadata.labels?.release, 'prometheus');
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels?.[k], v, `the selector picks Service post-metrics (${k})`);
    assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '15s' }]);
    assert.equal((sm.metadata.ownerReferences as { kind: string }[])[0].kind, 'MailServer');
    await until('status.warnings gone', async () => (await get('MailServer', 'post'))?.status?.warnings === undefined, 60_000);

    await edit('MailServer', 'post', (s) => delete s.metrics);
    await until('ServiceMonitor deleted', async () => !(await getOrUndefined(admin, SM, ns, 'post-metrics')), 60_000);
    await serverSettled();
  });

  it('deleting the MailServer garbage-collects what it owns but keeps the queue PVC', async () => {
    await admin.delete(Resources.MailServer, ns, 'post');
    // the garbage collector may take up to ~30 s to notice a new CRD's dependents
    await until('Deployment collected', async () => !(await get('Deployment', 'post')) && !(await get('ConfigMap', 'post-config')) && !(await get('Service', 'post')) && !(await get('Secret', 'post-tables-0')), 90_000);
    assert.ok(await get('PersistentVolumeClaim', 'post-queue'), 'queue PVC retained');
    assert.ok(await get('PersistentVolumeClaim', 'post-mail'), 'mail PVC retained');
    await until('Listener reports its missing server', async () => (await readyOf('Listener', 'inbound'))?.reason === 'MailServerNotFound', 60_000);
  });

  it('holds the shipped RBAC to exactly the permissions the operator used in this run (the drain\'s: drain.cluster.test.ts; DNSEndpoints: domain-dns.cluster.test.ts)', () => {
    assert.deepEqual([...op.client.permissionsUsed].sort(), shippedPermissions().filter((p) => !DRAIN_PERMISSIONS.includes(p) && !p.startsWith('externaldns.k8s.io/')));
  });
});
