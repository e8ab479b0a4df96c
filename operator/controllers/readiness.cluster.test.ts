// "Ready means mail flows", on the real API server and the real node (e2e/cluster/cluster.sh up
// --with-node): the relay image of this tree (KUBEMTA_TEST_IMAGE, default kubemta.local/kubemta:0.1.0;
// `node image/build.ts --tag …` + `cluster.sh load` puts one there) runs as the seed's relay. The operator
// runs in-process, its ServiceAccount token and the shipped RBAC, and reads each relay's served config
// from the pod IP (reachable from this host).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { sendPlain } from '../../e2e/mail.ts';
import { Cluster } from '../../e2e/kube.ts';
import { CONFIG_HASH_HEADER, TABLES_HASH_HEADER } from '../../relay/ops/http.ts';
import { applyDocs, clusterEnabled, getOrUndefined, skipReason, startOperator } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

type Cond = { type: string; status: string; reason: string; message: string; observedGeneration?: number };
type Obj = KubeObjectLike & { status?: { conditions?: Cond[]; observedGeneration?: number; [k: string]: unknown } };
const IMAGE = process.env.KUBEMTA_TEST_IMAGE ?? 'kubemta.local/kubemta:0.1.0';
const api = 'kubemta.io/v1alpha1';
const cond = (o: Obj | undefined, type = 'Ready') => o?.status?.conditions?.find((c) => c.type === type);

describe('MailServer Ready means mail flows (real node)', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let stop: (() => Promise<void>) | undefined;

  before(async () => {
    ({ admin, ns, stop } = await startOperator('kubemta-ready', { leaderElection: false, stallAfterMs: 5_000 }));
  });

  after(async () => {
    await stop?.();
  });

  const get = (kind: keyof typeof Resources, name: string) => getOrUndefined<Obj>(admin, Resources[kind], ns, name);
  const warnings = async () =>
    (await admin.list<KubeObjectLike & { type: string; reason: string; message: string; involvedObject: { kind: string; name: string }; source?: { component?: string } }>(Resources.Event, ns)).items
      .filter((e) => e.type === 'Warning' && e.source?.component === 'kubemta-operator')
      .map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.reason}: ${e.message}`);
  const relayPods = async (server: string) =>
    (await admin.list<KubeObjectLike & { status?: { podIP?: string; phase?: string } }>(Resources.Pod, ns, `app.kubernetes.io/instance=${server}`)).items.filter((p) => !p.metadata.deletionTimestamp);

  it('applies the seed members first and the MailServer last: Reconciling with Normal events, then Ready only once the relay serves the rendered config and takes mail; no Warning', async () => {
    const docs = seedDocuments().map((d) => (d.kind === 'MailServer' ? { ...d, spec: { ...(d.spec as object), image: IMAGE, imagePullPolicy: 'Never' } } : d));
    const server = docs.filter((d) => d.kind === 'MailServer');
    const rest = docs.filter((d) => d.kind !== 'MailServer').reverse(); // users before domains, Listeners before PkiCerts and Secrets
    const t0 = Date.now();
    for (const d of rest) await applyDocs(admin, ns, [d]); // one by one
    const waiting = await until('a Listener waiting for its server', async () => {
      const l = await get('Listener', 'inbound');
      return cond(l)?.reason === 'MailServerNotFound' && cond(l, 'Reconciling')?.status === 'True' && l;
    }, 60_000);
    assert.match(cond(waiting)!.message, /no MailServer "post"/);
    await applyDocs(admin, ns, server);
    // every stage the MailServer went through, as its status said it
    const stages: string[] = [];
    let readyAt = 0;
    await until(
      'MailServer Ready',
      async () => {
        const ms = await get('MailServer', 'post');
        const c = cond(ms);
        const stage = `${c?.status}/${c?.reason}${cond(ms, 'Reconciling') ? ' Reconciling' : ''}${cond(ms, 'Stalled') ? ' Stalled' : ''}`;
        if (c && stages.at(-1) !== stage) stages.push(stage);
        if (c?.status === 'True') readyAt = Date.now();
        return c?.status === 'True';
      },
      240_000,
    );
    process.stdout.write(`# seed applied (members first) → MailServer Ready: ${((readyAt - t0) / 1000).toFixed(1)} s; stages ${stages.join(' → ')}\n`);
    assert.ok(stages.some((s) => / Reconciling$/.test(s)), `rolled out through Reconciling: ${stages.join(' → ')}`);
    const ms = (await get('MailServer', 'post'))!;
    assert.equal(ms.status!.observedGeneration, ms.metadata.generation);
    assert.equal(ms.status!.relays, '1/1');
    assert.equal(cond(ms, 'Reconciling'), undefined);
    assert.equal(cond(ms, 'Stalled'), undefined);
    // the handshake: what the pod serves is what the status says was rendered
    const [pod] = await relayPods('post');
    const res = await fetch(`http://${pod.status!.podIP}:8025/readyz`);
    assert.equal(res.status, 200);
    assert.deepEqual([res.headers.get(CONFIG_HASH_HEADER), res.headers.get(TABLES_HASH_HEADER)], [ms.status!.configHash, ms.status!.tablesHash]);
    // the workload as a production chart has it: resources, probes, a metrics Service with the relay behind it
    const dep = (await admin.get<KubeObjectLike & { spec: { template: { spec: { containers: Record<string, any>[] } } } }>(Resources.Deployment, ns, 'post')).spec.template.spec.containers[0]; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.deepEqual(dep.resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual([dep.readinessProbe.httpGet.path, dep.livenessProbe.httpGet.path], ['/readyz', '/healthz']);
    const endpoints = await admin.get<KubeObjectLike & { subsets?: { addresses?: { ip: string }[]; ports?: { port: number }[] }[] }>({ group: '', version: 'v1', plural: 'endpoints', kind: 'Endpoints' }, ns, 'post-metrics');
    assert.deepEqual([endpoints.subsets?.[0]?.addresses?.map((a) => a.ip), endpoints.subsets?.[0]?.ports?.[0]?.port], [[pod.status!.podIP], 8025]);
    assert.match(await (await fetch(`http://${pod.status!.podIP}:8025/metrics`)).text(), /kubemta_queue_messages /);
    // Ready: the seed's mail goes through, now
    const replies = await sendPlain(pod.status!.podIP!, 10025, [{ id: 'ready-1', from: 'someone@elsewhere.test', to: 'max.muster@example.org' }]);
    assert.match(replies.get('ready-1')!, /^250 /);
    // members Ready, and not one Warning on the way
    for (const kind of ['Listener', 'MailDomain', 'VirtualUser', 'PkiCert'] as const) {
      for (const o of (await admin.list<Obj>(Resources[kind], ns)).items) assert.equal(cond(o)?.status, 'True', `${kind}/${o.metadata.name}: ${cond(o)?.reason} ${cond(o)?.message}`);
    }
    assert.deepEqual(await warnings(), []);
    // kubectl get as users see it (the API server's printer columns): lists as `a,b`, relays READY/DESIRED
    const table = await (await Cluster.up()).kubectl(['get', '-n', ns, 'mailservers,maildomains,virtualusers']);
    process.stdout.write(table.replace(/^/gm, '# '));
    assert.match(table, /mailserver\.kubemta\.io\/post +post\.example\.org +1\/1 +7 +True/);
    assert.match(table, /maildomain\.kubemta\.io\/brands +example\.org,example\.net,example\.com,\*\.example\.org,\*\.example\.net,\*\.example\.com +post +2 +True/);
    assert.match(table, /virtualuser\.kubemta\.io\/brands-max +max@example\.org,max@example\.net,max@example\.com +brands +post +True/);
  });

  it('a changed table: the relay reloads it and reports the new digest; Ready follows the handshake', async () => {
    const before = (await get('MailServer', 'post'))!.status!.tablesHash;
    await applyDocs(admin, ns, [{ apiVersion: api, kind: 'VirtualUser', metadata: { name: 'late' }, spec: { mailDomainRef: { name: 'example-org' }, localPart: 'late', mailbox: 'late' } }]);
    const t0 = Date.now();
    await until('new tables served and Ready', async () => {
      const ms = await get('MailServer', 'post');
      return ms?.status?.tablesHash !== before && cond(ms)?.status === 'True';
    }, 120_000);
    process.stdout.write(`# a VirtualUser added → relay serving the new tables, Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    const ms = (await get('MailServer', 'post'))!;
    const [pod] = await relayPods('post');
    const res = await fetch(`http://${pod.status!.podIP}:8025/readyz`);
    assert.equal(res.headers.get(TABLES_HASH_HEADER), ms.status!.tablesHash);
    const replies = await sendPlain(pod.status!.podIP!, 10025, [{ id: 'late-1', from: 'someone@elsewhere.test', to: 'late@example.org' }]);
    assert.match(replies.get('late-1')!, /^250 /);
  });

  it('a pod that cannot start keeps Ready False: Stalled ImagePullFailed, and a claim that never binds Stalled ClaimUnbound, each naming the pod', async () => {
    const lone = (name: string, spec: Record<string, unknown>) => [
      { apiVersion: api, kind: 'MailServer', metadata: { name }, spec: { hostname: `${name}.example.org`, ...spec } },
      { apiVersion: api, kind: 'Listener', metadata: { name: `${name}-in` }, spec: { mailServerRef: { name }, port: 2525, family: 'inet4', hostname: `${name}.example.org`, tls: { mode: 'none' }, service: { type: 'None' } } },
    ];
    await applyDocs(admin, ns, lone('nopull', { image: 'kubemta.local/not-there:1', imagePullPolicy: 'Never' }));
    await applyDocs(admin, ns, lone('nodisk', { image: IMAGE, imagePullPolicy: 'Never', queue: { storageClassName: 'no-such-class' } }));
    const nopull = await until('nopull Stalled', async () => {
      const o = await get('MailServer', 'nopull');
      return cond(o, 'Stalled')?.reason === 'ImagePullFailed' && o;
    }, 120_000);
    assert.equal(cond(nopull)!.status, 'False');
    assert.match(cond(nopull)!.message, /pod nopull-[a-z0-9-]+: container relay: ErrImageNeverPull/);
    const nodisk = await until('nodisk Stalled', async () => {
      const o = await get('MailServer', 'nodisk');
      return cond(o, 'Stalled')?.reason === 'ClaimUnbound' && o;
    }, 120_000);
    assert.equal(cond(nodisk)!.status, 'False');
    assert.match(cond(nodisk)!.message, /pod nodisk-[a-z0-9-]+ is Pending: claim nodisk-queue \(Pending\) not bound/);
    // the Stalled ones are the only Warnings here, and they name the problem
    const w = await warnings();
    assert.ok(w.every((x) => /^MailServer\/(nopull|nodisk): (ImagePullFailed|ClaimUnbound): /.test(x)), w.join('\n'));
    for (const name of ['nopull', 'nodisk']) {
      await admin.delete(Resources.MailServer, ns, name);
      await admin.delete(Resources.Listener, ns, `${name}-in`);
    }
  });

  it('members follow their server: deleted, every Listener, MailDomain and VirtualUser turns Ready=False naming it, Reconciling (waiting for it)', async () => {
    await admin.delete(Resources.MailServer, ns, 'post');
    for (const [kind, name, message] of [
      ['Listener', 'inbound', 'spec.mailServerRef.name: no MailServer "post"'],
      ['MailDomain', 'example-org', 'spec.mailServerRef.name: no MailServer "post"'],
      ['VirtualUser', 'late', 'MailDomain "example-org": no MailServer "post"'],
    ] as const) {
      const o = await until(`${kind}/${name} follows`, async () => {
        const x = await get(kind, name);
        return cond(x)?.reason === 'MailServerNotFound' && x;
      }, 60_000);
      assert.deepEqual([cond(o)!.status, cond(o)!.message, cond(o, 'Reconciling')?.status], ['False', message, 'True']);
    }
    for (const kind of ['Listener', 'MailDomain', 'VirtualUser'] as const) {
      for (const o of (await admin.list<Obj>(Resources[kind], ns)).items) assert.equal(cond(o)?.status, 'False', `${kind}/${o.metadata.name}`);
    }
    // one Normal Event per Listener and MailDomain; the users say it through their domain (10,000 users, no 10,000 Events)
    // Events are written after the statuses they report: wait for the domain's rather than read once
    type Ev = KubeObjectLike & { type: string; reason: string; involvedObject: { kind: string; name: string } };
    let events: Ev[] = [];
    await until('the MailDomain\'s MailServerNotFound Event', async () => {
      events = (await admin.list<Ev>(Resources.Event, ns)).items.filter((e) => e.reason === 'MailServerNotFound');
      return events.some((e) => e.involvedObject.kind === 'MailDomain' && e.involvedObject.name === 'example-org');
    }, 10_000).catch(() => undefined);
    assert.ok(events.some((e) => e.involvedObject.kind === 'MailDomain' && e.involvedObject.name === 'example-org' && e.type === 'Normal'));
    assert.ok(events.every((e) => e.type === 'Normal' && e.involvedObject.kind !== 'VirtualUser'), events.map((e) => `${e.type} ${e.involvedObject.kind}/${e.involvedObject.name}`).join(', '));
  });

  it('the seed applied all at once, shuffled, in a fresh namespace: Ready, every member Ready, no Warning', async () => {
    const other = await startOperator('kubemta-ready-all', { leaderElection: false });
    try {
      const docs = seedDocuments().map((d) => (d.kind === 'MailServer' ? { ...d, spec: { ...(d.spec as object), image: IMAGE, imagePullPolicy: 'Never' } } : d));
      for (let i = docs.length - 1; i > 0; i--) {
        const j = Math.floor(Math.random() * (i + 1));
        [docs[i], docs[j]] = [docs[j], docs[i]];
      }
      const t0 = Date.now();
      await Promise.all(docs.map((d) => applyDocs(other.admin, other.ns, [d])));
      await until('MailServer Ready', async () => cond(await getOrUndefined<Obj>(other.admin, Resources.MailServer, other.ns, 'post'))?.status === 'True', 240_000);
      process.stdout.write(`# seed applied all at once (${docs.map((d) => d.kind).join(',')}) → Ready: ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      for (const kind of ['Listener', 'MailDomain', 'VirtualUser', 'PkiCert'] as const) {
        await until(`every ${kind} Ready`, async () => (await other.admin.list<Obj>(Resources[kind], other.ns)).items.every((o) => cond(o)?.status === 'True'), 30_000);
      }
      const events = (await other.admin.list<KubeObjectLike & { type: string; reason: string; message: string; involvedObject: { kind: string; name: string }; source?: { component?: string } }>(Resources.Event, other.ns)).items;
      assert.deepEqual(events.filter((e) => e.type === 'Warning' && e.source?.component === 'kubemta-operator').map((e) => `${e.involvedObject.kind}/${e.involvedObject.name}: ${e.reason}`), []);
      assert.ok(events.some((e) => e.type === 'Normal' && e.involvedObject.kind === 'MailServer' && e.reason === 'Ready'), 'a Normal Ready event');
    } finally {
      await other.stop();
    }
  });
});
