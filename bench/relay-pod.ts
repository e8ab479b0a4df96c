// The relay's resource use in a pod on the local node (the figures behind the operator's default requests and
// limits, operator/render/workload.ts DEFAULT_RESOURCES). The seed's objects in a throwaway namespace, the
// operator in this process, the node's kubemta image (KUBEMTA_TEST_IMAGE, default kubemta.local/kubemta:0.1.0);
// then the kubelet's stats summary for the relay container (workingSetBytes: what the kubelet evicts and
// OOM-ranks by, and what `kubectl top` shows; usageNanoCores) sampled every second: idle, and while
// smtp-source sends bursts to the Service's ClusterIP from this host (delivered to the pod's mbox store).
// Needs the cluster lock: flock /tmp/kubemta-cluster.lock env KUBECONFIG=… node bench/relay-pod.ts
// Env: MAILS (500 per burst), SESSIONS (20).
import { spawn } from 'node:child_process';
import { seedDocuments } from '../test/render-kit.ts';
import { applyDocs, getOrUndefined, startOperator } from '../test/cluster-kit.ts';
import { until } from '../test/until.ts';
import { Resources } from '../operator/api/resources.ts';
import { mustExec, CLUSTER_SCRIPT } from '../e2e/kube.ts';
import type { KubeObjectLike } from '../operator/kube/client.ts';

const IMAGE = process.env.KUBEMTA_TEST_IMAGE ?? 'kubemta.local/kubemta:0.1.0';
const MAILS = Number(process.env.MAILS ?? 500);
const SESSIONS = Number(process.env.SESSIONS ?? 20);
const out = (s: string) => process.stdout.write(`${s}\n`);

const tools = (await mustExec(CLUSTER_SCRIPT, ['tools'])).trim().split('\n').pop()!;
const kubectl = (args: string[]) => mustExec(`${tools}/kubectl`, args);

type Stats = { pods: { podRef: { name: string; namespace: string }; containers?: { name: string; memory?: { workingSetBytes?: number; rssBytes?: number }; cpu?: { usageNanoCores?: number } }[] }[] };

const { admin, ns, stop } = await startOperator('kubemta-bench', { leaderElection: false });
try {
  const docs = seedDocuments().map((d) => (d.kind === 'MailServer' ? { ...d, spec: { ...(d.spec as object), image: IMAGE, imagePullPolicy: 'Never' } } : d));
  await applyDocs(admin, ns, docs);
  await until('MailServer Ready', async () => {
    const ms = await getOrUndefined<KubeObjectLike & { status?: { conditions?: { type: string; status: string }[] } }>(admin, Resources.MailServer, ns, 'post');
    return ms?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  }, 240_000);
  const node = (await kubectl(['get', 'nodes', '-o', 'jsonpath={.items[0].metadata.name}'])).trim();
  const sample = async () => {
    const s = JSON.parse(await kubectl(['get', '--raw', `/api/v1/nodes/${node}/proxy/stats/summary`])) as Stats;
    const c = s.pods.find((p) => p.podRef.namespace === ns && p.podRef.name.startsWith('post-'))?.containers?.find((x) => x.name === 'relay');
    return { ws: c?.memory?.workingSetBytes ?? 0, rss: c?.memory?.rssBytes ?? 0, cpu: c?.cpu?.usageNanoCores ?? 0 };
  };
  const MiB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const watch = async (label: string, during: Promise<unknown>) => {
    const peak = { ws: 0, rss: 0, cpu: 0 };
    let done = false;
    void during.finally(() => (done = true));
    const t0 = Date.now();
    while (!done) {
      const s = await sample();
      peak.ws = Math.max(peak.ws, s.ws);
      peak.rss = Math.max(peak.rss, s.rss);
      peak.cpu = Math.max(peak.cpu, s.cpu);
      await new Promise((r) => setTimeout(r, 1000));
    }
    await during;
    out(`${label.padEnd(44)} peak working set ${MiB(peak.ws)}, rss ${MiB(peak.rss)}, cpu ${(peak.cpu / 1e6).toFixed(0)}m (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  };
  // the kubelet's stats (cAdvisor, every 10–15 s) need a while to see a new container
  await until('stats for the relay container', async () => (await sample()).ws > 0, 120_000, 2000);
  await watch('idle, Ready, 30 s', new Promise((r) => setTimeout(r, 30_000)));
  const ip = (await kubectl(['get', 'service', 'post', '-n', ns, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
  const burst = (size: number) =>
    new Promise<void>((resolve, reject) => {
      // smtp-source: -s sessions in parallel, -m messages, -l body bytes, one recipient of the seed's catch-all domain
      const p = spawn('smtp-source', ['-s', String(SESSIONS), '-m', String(MAILS), '-l', String(size), '-f', 'bench@example.net', '-t', 'catchall@example.org', `${ip}:25`], { stdio: 'inherit' });
      p.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`smtp-source exit ${code}`))));
    });
  for (const size of [4096, 102_400]) {
    const t = Date.now();
    await watch(`burst: ${MAILS} mails of ${size / 1024} KiB, ${SESSIONS} sessions`, burst(size).then(() => out(`  sent in ${((Date.now() - t) / 1000).toFixed(1)} s`)));
    await watch('after it, 30 s (delivery to mbox)', new Promise((r) => setTimeout(r, 30_000)));
  }
} finally {
  await stop();
}
