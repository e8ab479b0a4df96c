// Scale-down without losing a mail, on the real API server and the real node (the image of this tree,
// KUBEMTA_TEST_IMAGE, loaded with `cluster.sh load`): three relays queue mail while their next hop (a
// receiving SMTP server on the host's pod-bridge address) is down; the MailServer is scaled to one; the
// operator drains the three queue claims the StatefulSet left (Jobs running the relay in drain mode), its
// status showing the drain and the mails left; the next hop comes back; every mail arrives, counted by
// Message-Id; the drained claims are deleted (drainedQueueClaims: Delete), the mail claims kept.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { type KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { sendPlain } from '../../e2e/mail.ts';
import { BRIDGE_ADDRESS } from '../../e2e/kube.ts';
import { startSink, type TestSink } from '../../test/smtp-sink.ts';
import { applyDocs, clusterEnabled, DRAIN_PERMISSIONS, getOrUndefined, skipReason, startOperator } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';
import type { Manager } from './manager.ts';
import type { DrainStatus } from './drain.ts';

type Cond = { type: string; status: string; reason: string; message: string };
type Server = KubeObjectLike & { spec: Record<string, unknown>; status?: { conditions?: Cond[]; relays?: string; drains?: DrainStatus[]; draining?: string } };
type Pod = KubeObjectLike & { status?: { podIP?: string; phase?: string } };
const IMAGE = process.env.KUBEMTA_TEST_IMAGE ?? 'kubemta.local/kubemta:0.1.0';
const api = 'kubemta.io/v1alpha1';
const INBOUND = 10025;
const say = (s: string) => process.stdout.write(`# ${s}\n`);

async function freePort(address: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, address, () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe('scale-down drains the removed replicas\' queues (real node)', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let manager: Manager;
  let stop: (() => Promise<void>) | undefined;
  let sink: TestSink | undefined;

  before(async () => {
    ({ admin, ns, manager, stop } = await startOperator('kubemta-drain', { leaderElection: false }));
  });
  after(async () => {
    await sink?.close();
    await stop?.();
  });

  const server = () => getOrUndefined<Server>(admin, Resources.MailServer, ns, 'post');
  const queueGauge = async (ip: string) => Number(/^kubemta_queue_messages (\d+)/m.exec(await (await fetch(`http://${ip}:8025/metrics`)).text())?.[1]);

  it('mail queued on three replicas while the next hop is down is delivered after a scale to one, once the next hop is back', async () => {
    // the next hop: a port on the host's pod-bridge address where nothing listens yet
    const nextHop = await freePort(BRIDGE_ADDRESS);
    const docs = seedDocuments().map((d) =>
      d.kind === 'MailServer'
        ? { ...d, spec: { ...(d.spec as object), image: IMAGE, imagePullPolicy: 'Never', replicas: 3, drainedQueueClaims: 'Delete', outbound: { ...((d.spec as { outbound?: object }).outbound ?? {}), smarthost: `smtp://${BRIDGE_ADDRESS}:${nextHop}` } } }
        : d,
    );
    docs.push({ apiVersion: api, kind: 'VirtualUser', metadata: { name: 'partner' }, spec: { mailDomainRef: { name: 'example-org' }, address: 'partner@example.org', forwardTo: ['partner@elsewhere.test'] } });
    await applyDocs(admin, ns, docs);
    let t0 = Date.now();
    await until('three relays Ready', async () => {
      const s = await server();
      return s?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') && s.status.relays === '3/3';
    }, 300_000);
    say(`replicas 3 Ready after ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    // four mails to each relay, forwarded to the next hop, which is down: each stays in its replica's queue
    const pods = (await admin.list<Pod>(Resources.Pod, ns, 'app.kubernetes.io/name=kubemta,app.kubernetes.io/instance=post')).items.filter((p) => !p.metadata.deletionTimestamp);
    assert.equal(pods.length, 3);
    const sent: string[] = [];
    for (const p of pods) {
      const mails = Array.from({ length: 4 }, (_, i) => ({ id: `drain-${p.metadata.name}-${i}`, from: 'someone@elsewhere.test', to: 'partner@example.org' }));
      const replies = await sendPlain(p.status!.podIP!, INBOUND, mails);
      for (const m of mails) assert.match(replies.get(m.id)!, /^250 /, `${m.id} at ${p.metadata.name}`);
      sent.push(...mails.map((m) => m.id));
    }
    for (const p of pods) await until(`4 mails queued on ${p.metadata.name}`, async () => (await queueGauge(p.status!.podIP!)) === 4, 30_000);

    // scale to one: a Deployment on its own claim; the StatefulSet's three queue claims are left behind
    t0 = Date.now();
    await until('replicas set to 1', async () => {
      const s = (await admin.get<Server>(Resources.MailServer, ns, 'post'));
      await admin.update(Resources.MailServer, ns, { ...s, spec: { ...s.spec, replicas: 1 } });
      return true;
    }, 60_000);
    // the drain shows in status: three claims Running, with the mail each still holds (next hop still down)
    const shown = await until('status.drains: three claims draining, 12 mails left', async () => {
      const s = await server();
      const d = s?.status?.drains ?? [];
      return d.length === 3 && d.every((x) => x.phase === 'Running' && x.remaining === 4) && s;
    }, 240_000);
    say(`scaled to 1 → drains Running after ${((Date.now() - t0) / 1000).toFixed(1)} s: ${JSON.stringify(shown.status!.drains)}; draining: ${shown.status!.draining}`);
    assert.deepEqual(shown.status!.drains!.map((d) => d.claim), ['queue-post-0', 'queue-post-1', 'queue-post-2']);
    assert.equal(shown.status!.draining, '3 claim(s), 12 mail(s) left');
    assert.ok(shown.status!.conditions!.some((c) => c.type === 'Ready' && c.status === 'True'), 'a draining server that serves stays Ready');
    const jobs = (await admin.list<KubeObjectLike>(Resources.Job, ns, 'app.kubernetes.io/component=drain')).items.map((j) => j.metadata.name).sort();
    assert.deepEqual(jobs, ['post-drain-0', 'post-drain-1', 'post-drain-2']);

    // the next hop comes back: every mail arrives, counted by Message-Id
    sink = await startSink({ address: BRIDGE_ADDRESS, port: nextHop });
    t0 = Date.now();
    const arrived = () => sink!.received.map((m) => /^Message-ID: <([^@>]+)@e2e\.test>/im.exec(m.data.toString('latin1'))?.[1]).filter((x): x is string => !!x);
    await until('every mail at the next hop', async () => sent.every((id) => arrived().includes(id)), 240_000).catch((err) => {
      throw new Error(`${(err as Error).message}; missing: ${sent.filter((id) => !arrived().includes(id)).join(', ')}`);
    });
    const ids = arrived();
    const duplicates = ids.length - new Set(ids).size;
    say(`next hop back → all ${sent.length} mails arrived after ${((Date.now() - t0) / 1000).toFixed(1)} s; ${duplicates} duplicate(s) (at-least-once)`);
    assert.deepEqual([...new Set(ids)].sort(), [...sent].sort());

    // drained: status clears, the Jobs go, the empty queue claims are deleted (Delete), the mail claims stay
    await until('drains done', async () => {
      const s = await server();
      return !!s && s.status?.drains === undefined && s.status?.draining === undefined;
    }, 120_000);
    for (const i of [0, 1, 2]) {
      assert.equal(await getOrUndefined(admin, Resources.PersistentVolumeClaim, ns, `queue-post-${i}`).then((c) => !!c && !c.metadata.deletionTimestamp), false, `queue-post-${i} deleted (gone, or going)`);
      assert.ok(await getOrUndefined(admin, Resources.PersistentVolumeClaim, ns, `mail-post-${i}`), `mail-post-${i} kept`);
    }
    assert.deepEqual((await admin.list<KubeObjectLike>(Resources.Job, ns, 'app.kubernetes.io/component=drain')).items.filter((j) => !j.metadata.deletionTimestamp), []);
    const events = (await admin.list<KubeObjectLike & { reason: string; message: string }>(Resources.Event, ns)).items.filter((e) => e.reason === 'Drained').map((e) => e.message);
    assert.equal(events.length, 3, events.join('\n'));

    // the drain used exactly the permissions the shipped RBAC grants for it
    const used = [...manager.ctx.client.permissionsUsed];
    for (const p of DRAIN_PERMISSIONS) assert.ok(used.includes(p), `used ${p}`);
  });
});
