// The e2e tier's world, from nothing: the cluster with a node, the image built and imported, the chart
// installed (the operator as a pod), hostPath volumes for the relay's claims, the seed's objects applied,
// a receiving SMTP server on the host as the relay's smarthost. `stop()` leaves nothing behind but the
// control plane, so the tier can run again at once.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { ROOT } from '../deploy/generate.ts';

import { BRIDGE_ADDRESS, Cluster, condition, mustExec, type KubeObject } from './kube.ts';
import { Mailboxes } from './mail.ts';
import { startSmarthost, type Smarthost } from './smarthost.ts';
import { until } from '../test/until.ts';

export const Names = {
  release: 'kubemta-e2e',
  system: 'kubemta-e2e-system',
  mail: 'kubemta-e2e',
  server: 'post',
  pvLabel: 'kubemta.io/e2e=seed',
  dataDir: process.env.KUBEMTA_E2E_DATA ?? '/tmp/kubemta-e2e',
} as const;
export const KINDS = ['mailservers', 'listeners', 'pkicerts', 'maildomains', 'virtualusers'] as const;
const IMAGE_TAR = join(ROOT, 'image/out/kubemta-image.tar');

export type Log = (msg: string) => void;

/** Prints `[e2e] step  12.3 s`: how long each step took since the previous one. */
export function stopwatch(print: Log): (step: string) => void {
  let last = Date.now();
  return (step) => {
    const now = Date.now();
    print(`${step.padEnd(52)} ${((now - last) / 1000).toFixed(1).padStart(6)} s`);
    last = now;
  };
}

/** `npm run image` (skipped with KUBEMTA_E2E_BUILD=0 when the tarball exists), imported into the node. */
export async function kubemtaImage(cluster: Cluster, lap: (step: string) => void): Promise<{ tag: string; digest: string }> {
  if (process.env.KUBEMTA_E2E_BUILD !== '0') {
    await mustExec(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'image/build.ts'), '--quiet'], { timeoutMs: 600_000 });
    lap('image built (npm run image)');
  }
  const info = JSON.parse(readFileSync(IMAGE_TAR.replace(/\.tar$/, '.json'), 'utf8')) as { tags: string[]; digest: string };
  const tag = info.tags.find((t) => !t.endsWith(':dev'))!;
  const digest = await cluster.importImage(IMAGE_TAR, tag);
  if (digest !== info.digest) throw new Error(`containerd has ${tag} at ${digest}, the tarball is ${info.digest}`);
  lap('image imported into the node');
  return { tag, digest };
}

export class SeedEnv {
  readonly cluster: Cluster;
  readonly lap: (step: string) => void;
  readonly bridge = BRIDGE_ADDRESS;
  sink?: Smarthost;
  readonly mailboxes = new Mailboxes(join(Names.dataDir, 'mail/store'));
  readonly queueDir = join(Names.dataDir, 'queue');

  private constructor(cluster: Cluster, lap: (step: string) => void) {
    this.cluster = cluster;
    this.lap = lap;
  }

  static async start(print: Log): Promise<SeedEnv> {
    const lap = stopwatch(print);
    const env = new SeedEnv(await Cluster.up(), lap);
    lap('cluster with a node up');
    await env.cleanup();
    lap('leftovers of an earlier run removed');
    return env;
  }

  /** `npm run image` (skipped with KUBEMTA_E2E_BUILD=0 when the tarball exists), imported into the node. */
  image(): Promise<{ tag: string; digest: string }> {
    return kubemtaImage(this.cluster, this.lap);
  }

  /** Namespaces, and the smarthost sink on the host's side of the pod network. */
  async network(): Promise<void> {
    for (const ns of [Names.system, Names.mail]) {
      await this.cluster.kubectl(['apply', '-f', '-'], yaml.dump({
        apiVersion: 'v1',
        kind: 'Namespace',
        metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted', 'kubemta.io/e2e': 'seed' } },
      }));
    }
    this.sink = await startSmarthost(this.bridge);
    this.lap(`smarthost at ${this.bridge}:${this.sink.port}`);
  }

  /** Values for this cluster: the operator watches the mail namespace (it reaches the API server through
   * the `kubernetes` Service, as on any cluster). */
  chartValues(extra: Record<string, unknown> = {}): string {
    return yaml.dump({ operator: { watchNamespace: Names.mail, ...extra } });
  }

  async helm(verb: 'install' | 'upgrade', extra: Record<string, unknown> = {}): Promise<void> {
    const file = join(Names.dataDir, `values-${verb}.yaml`);
    await mustExec('sh', ['-c', `mkdir -p '${Names.dataDir}' && cat > '${file}'`], { input: this.chartValues(extra) });
    if (verb === 'install') {
      // helm installs a chart's CRDs only where none exist; on this shared cluster they usually do, from
      // another tree, and a field this tree added would be pruned from every object that sets it
      const crds = join(ROOT, 'charts/kubemta/crds');
      await this.cluster.kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=kubemta-tests', '-f', crds]);
      await this.cluster.kubectl(['wait', '--for=condition=established', '--timeout=60s', '-f', crds]);
    }
    await this.cluster.helm([verb, Names.release, join(ROOT, 'charts/kubemta'), '-n', Names.system, '-f', file]);
  }

  async operatorPod(): Promise<KubeObject | undefined> {
    const pods = await this.cluster.list(['pods', '-n', Names.system, '-l', `app.kubernetes.io/instance=${Names.release}`]);
    return pods.find((p) => !p.metadata.deletionTimestamp && condition(p)?.status === 'True');
  }

  /** The relay pod when it is Running and Ready (not one being deleted). */
  async relayPod(): Promise<KubeObject | undefined> {
    const pods = await this.cluster.list(['pods', '-n', Names.mail, '-l', `app.kubernetes.io/instance=${Names.server},app.kubernetes.io/component=relay`]);
    return pods.find((p) => !p.metadata.deletionTimestamp && (p.status as { phase?: string }).phase === 'Running' && condition(p)?.status === 'True');
  }

  relayIp(pod: KubeObject): string {
    return (pod.status as { podIP: string }).podIP;
  }

  /** PersistentVolumes for the claims <server>-queue and <server>-mail (no provisioner here). */
  async volumes(): Promise<void> {
    await this.cluster.createVolumes(
      (['queue', 'mail'] as const).map((w) => ({ name: `kubemta-e2e-${w}`, claimNamespace: Names.mail, claim: `${Names.server}-${w}`, dir: join(Names.dataDir, w) })),
      { 'kubemta.io/e2e': 'seed' },
    );
  }

  /** Objects of the five kinds whose Ready is not True, as `kind/name: reason: message`. */
  async notReady(): Promise<string[]> {
    const bad: string[] = [];
    for (const kind of KINDS) {
      for (const o of await this.cluster.list([kind, '-n', Names.mail])) {
        const c = condition(o);
        if (c?.status !== 'True' || (o.status as { observedGeneration?: number }).observedGeneration !== (o.metadata as { generation?: number }).generation) {
          bad.push(`${o.kind}/${o.metadata.name}: ${c?.status ?? 'no Ready'} ${c?.reason ?? ''} ${c?.message ?? ''}`.trim());
        }
      }
    }
    return bad;
  }

  async waitAllReady(ms = 120_000): Promise<void> {
    let last: string[] = [];
    await until('every kubemta object Ready', async () => {
      last = await this.notReady();
      return last.length === 0;
    }, ms).catch((err: Error) => {
      throw new Error(`${err.message}: ${last.join('; ')}`);
    });
  }

  async waitRelay(ms = 180_000): Promise<KubeObject> {
    return until('the relay pod Running and Ready', () => this.relayPod(), ms);
  }

  async cleanup(): Promise<void> {
    await this.cluster.cleanup({
      namespaces: [Names.mail, Names.system],
      release: { name: Names.release, namespace: Names.system },
      pvLabel: Names.pvLabel,
      dataDir: Names.dataDir,
    });
  }

  async stop(keep = process.env.KUBEMTA_E2E_KEEP === '1'): Promise<void> {
    await this.sink?.close();
    if (!keep) await this.cleanup();
  }
}
