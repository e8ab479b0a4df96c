// The e2e tier's hands on the project's local cluster (e2e/cluster/cluster.sh up --with-node): kubectl and helm
// as the user runs them, the image import into the node's containerd, the pod network's host side, and the
// hostPath PersistentVolumes this cluster needs (it has no provisioner).
import { execFile } from 'node:child_process';
import { chownSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { ROOT } from '../deploy/generate.ts';

export const CLUSTER_SCRIPT = join(ROOT, 'e2e/cluster/cluster.sh');
export const CLUSTER_STATE = process.env.KUBEMTA_CLUSTER_STATE ?? '/tmp/kubemta-cluster';
/** The host's address on the node's pod bridge (cluster.sh's GATEWAY): pods reach the host there. */
export const BRIDGE_ADDRESS = '10.244.0.1';

export interface Exec {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program; resolves with its exit code and output (never rejects on a non-zero exit). */
export function exec(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Exec> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { env: opts.env ?? process.env, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

export async function mustExec(cmd: string, args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<string> {
  const r = await exec(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${r.stderr}${r.stdout}`.slice(0, 4000));
  return r.stdout;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid?: string; labels?: Record<string, string>; annotations?: Record<string, string>; deletionTimestamp?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown> & { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
  [k: string]: unknown;
}

/** The cluster with a node, and kubectl/helm/ctr bound to it. */
export class Cluster {
  readonly env: NodeJS.ProcessEnv;
  readonly kubeconfig: string;

  private constructor(kubeconfig: string, tools: string) {
    this.kubeconfig = kubeconfig;
    this.env = { ...process.env, KUBECONFIG: kubeconfig, PATH: `${tools}:${process.env.PATH}` };
  }

  /** `cluster.sh up --with-node` (0.1 s when it is up; ~25 s from stopped, built). */
  static async up(): Promise<Cluster> {
    // `up` takes the cluster's lock file, which is the shared lock the tier runs under (`flock
    // /tmp/kubemta-cluster.lock …`): it would wait for itself. A plane that is up with its node is used as is.
    const status = await exec(CLUSTER_SCRIPT, ['status']);
    const running = status.code === 0 && /^kubelet\s+running/m.test(status.stdout) ? /^kubeconfig (\S+)$/m.exec(status.stdout)?.[1] : undefined;
    const kubeconfig = running ?? (await mustExec(CLUSTER_SCRIPT, ['up', '--with-node'], { timeoutMs: 1_800_000 })).trim().split('\n').pop()!;
    const tools = (await mustExec(CLUSTER_SCRIPT, ['tools'])).trim().split('\n').pop()!;
    return new Cluster(kubeconfig, tools);
  }

  kubectl(args: string[], input?: string): Promise<string> {
    return mustExec('kubectl', args, { env: this.env, input });
  }

  /** kubectl that may fail (e.g. a check for absence). */
  kubectlTry(args: string[], input?: string): Promise<Exec> {
    return exec('kubectl', args, { env: this.env, input });
  }

  async get<T = KubeObject>(args: string[]): Promise<T> {
    return JSON.parse(await this.kubectl(['get', ...args, '-o', 'json'])) as T;
  }

  async list(args: string[]): Promise<KubeObject[]> {
    return (await this.get<{ items: KubeObject[] }>(args)).items;
  }

  /** The object, or undefined when it does not exist. */
  async find(args: string[]): Promise<KubeObject | undefined> {
    const r = await this.kubectlTry(['get', ...args, '-o', 'json', '--ignore-not-found']);
    if (r.code !== 0) throw new Error(`kubectl get ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim() ? (JSON.parse(r.stdout) as KubeObject) : undefined;
  }

  helm(args: string[]): Promise<string> {
    return mustExec('helm', args, { env: this.env, timeoutMs: 300_000 });
  }

  ctr(args: string[]): Promise<string> {
    return mustExec('ctr', ['--address', join(CLUSTER_STATE, 'node/containerd.sock'), '-n', 'k8s.io', ...args], { timeoutMs: 300_000 });
  }

  /** Imports an image tarball into the node; returns containerd's digest for `tag`. */
  async importImage(tarball: string, tag: string): Promise<string> {
    await this.ctr(['images', 'import', tarball]);
    const line = (await this.ctr(['images', 'ls', `name==${tag}`])).split('\n')[1] ?? '';
    return line.split(/\s+/)[2];
  }

  /** The host's process id of a pod's container (for a kill -9 from outside: PID 1 in the pod ignores it from inside). */
  async hostPid(containerId: string): Promise<number> {
    const id = containerId.replace(/^containerd:\/\//, '');
    for (const line of (await this.ctr(['tasks', 'ls'])).split('\n').slice(1)) {
      const [task, pid] = line.trim().split(/\s+/);
      if (task === id) return Number(pid);
    }
    throw new Error(`no task for container ${id}`);
  }

  /**
   * hostPath PersistentVolumes pre-bound (claimRef) to the claims the operator makes, under `dir` (created,
   * owned by the relay's uid 65532: a hostPath volume gets no fsGroup). Retain: the data outlives claims.
   */
  async createVolumes(volumes: { name: string; claimNamespace: string; claim: string; dir: string; size?: string }[], label: Record<string, string>): Promise<void> {
    const docs = volumes.map((v) => {
      mkdirSync(v.dir, { recursive: true, mode: 0o750 });
      chownSync(v.dir, 65532, 65532);
      return {
        apiVersion: 'v1',
        kind: 'PersistentVolume',
        metadata: { name: v.name, labels: label },
        spec: {
          capacity: { storage: v.size ?? '1Gi' },
          accessModes: ['ReadWriteOnce'],
          persistentVolumeReclaimPolicy: 'Retain',
          claimRef: { namespace: v.claimNamespace, name: v.claim },
          hostPath: { path: v.dir, type: 'Directory' },
        },
      };
    });
    await this.kubectl(['apply', '-f', '-'], docs.map((d) => `---\n${yaml.dump(d)}`).join(''));
  }

  /** Deletes what a previous run left: namespaces (waited for), a release, PVs by label, their directories. */
  async cleanup(opts: { namespaces: string[]; release?: { name: string; namespace: string }; pvLabel: string; dataDir: string }): Promise<void> {
    if (opts.release) {
      const r = await exec('helm', ['status', opts.release.name, '-n', opts.release.namespace], { env: this.env });
      if (r.code === 0) await this.helm(['uninstall', opts.release.name, '-n', opts.release.namespace, '--wait', '--timeout', '120s']);
    }
    for (const ns of opts.namespaces) await this.kubectlTry(['delete', 'namespace', ns, '--ignore-not-found', '--wait=false']);
    for (const ns of opts.namespaces) await this.kubectlTry(['wait', '--for=delete', `namespace/${ns}`, '--timeout=180s']);
    await this.kubectlTry(['delete', 'pv', '-l', opts.pvLabel, '--wait=true', '--timeout=60s']);
    rmSync(opts.dataDir, { recursive: true, force: true });
  }
}

/** The condition of `type` on an object, if any. */
export function condition(o: KubeObject | undefined, type = 'Ready'): { status: string; reason?: string; message?: string } | undefined {
  return o?.status?.conditions?.find((c) => c.type === type);
}
