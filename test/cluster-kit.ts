// Helpers for the cluster tier (*.cluster.test.ts): an admin client from $KUBECONFIG, a throwaway
// namespace, the CRDs, the shipped RBAC bound to a ServiceAccount of that namespace, and polling.
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as yaml from 'js-yaml';
import { pino, type Logger } from 'pino';
import { Manager, type ManagerOptions } from '../operator/controllers/manager.ts';
import { ApiError, KubeClient, type KubeObjectLike, type Resource } from '../operator/kube/client.ts';
import { crdFiles } from '../operator/api/generate.ts';
import { until } from './until.ts';

export const clusterEnabled = process.env.KUBEMTA_CLUSTER === '1' && !!process.env.KUBECONFIG;
export const skipReason = 'cluster tier: set KUBEMTA_CLUSTER=1 and KUBECONFIG=$(e2e/cluster/cluster.sh up)';

const RBAC = new URL('../operator/rbac/rbac.yaml', import.meta.url).pathname;
const CRD: Resource = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
const NS: Resource = { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' };
const SA: Resource = { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount' };
const rbacRes = (kind: string): Resource => ({ group: 'rbac.authorization.k8s.io', version: 'v1', plural: kind.toLowerCase() + 's', kind });

/**
 * Permissions only the drain of a scale-down's queues uses (operator/controllers/drain.ts): the operator
 * tier's run (relayCheck off, no relay runs, so no drain) does not use them; drain.cluster.test.ts does.
 */
export const DRAIN_PERMISSIONS = ['/persistentvolumeclaims delete', 'batch/jobs create', 'batch/jobs delete', 'batch/jobs list'];

export const silentLog = pino({ level: process.env.KUBEMTA_TEST_LOG ?? 'silent' });

export async function installCrds(admin: KubeClient): Promise<void> {
  for (const text of crdFiles().values()) {
    const crd = yaml.load(text) as KubeObjectLike;
    await admin.apply(CRD, '', crd, 'kubemta-tests', { force: true });
  }
  for (const text of crdFiles().values()) {
    const name = (yaml.load(text) as KubeObjectLike).metadata.name;
    await until(`CRD ${name} established`, async () => {
      const c = await admin.get<KubeObjectLike & { status?: { conditions?: { type: string; status: string }[] } }>(CRD, '', name);
      return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    }, 60_000);
  }
}

export async function getCrd(admin: KubeClient, name: string): Promise<KubeObjectLike> {
  return admin.get(CRD, '', name);
}

export async function createNamespace(admin: KubeClient, prefix = 'kubemta-optest'): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await admin.create(NS, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubemta.io/test': 'operator' } } });
  return name;
}

export async function deleteNamespace(admin: KubeClient, name: string): Promise<void> {
  await admin.delete(NS, '', name);
}

/** Applies operator/rbac/rbac.yaml with its ServiceAccount and Role in `ns`; returns a client with the SA's token (and the token, for more). */
export async function operatorClient(admin: KubeClient, ns: string): Promise<{ client: KubeClient; token: string; cleanup: () => Promise<void> }> {
  const docs = yaml.loadAll(readFileSync(RBAC, 'utf8')) as KubeObjectLike[];
  const clusterScoped: [Resource, string][] = [];
  for (const d of docs) {
    if (d.metadata.namespace) d.metadata.namespace = ns;
    for (const s of (d.subjects as { namespace?: string }[] | undefined) ?? []) s.namespace = ns;
    // cluster-scoped objects get this namespace's name, so that a test run never takes the names a
    // `helm install kubemta` needs, and they go in cleanup with the namespace
    if (d.kind === 'ClusterRoleBinding' || d.kind === 'ClusterRole') d.metadata.name = `kubemta-operator-${ns}`;
    if (d.kind === 'ClusterRoleBinding') (d.roleRef as { name: string }).name = `kubemta-operator-${ns}`;
    const r = d.kind === 'ServiceAccount' ? SA : rbacRes(d.kind as string);
    await admin.apply(r, d.metadata.namespace ?? '', d, 'kubemta-tests', { force: true });
    if (!d.metadata.namespace) clusterScoped.push([r, d.metadata.name]);
  }
  const token = await until('ServiceAccount token', async () => {
    const sa = await admin.get<KubeObjectLike & { secrets?: { name: string }[] }>(SA, ns, 'kubemta-operator');
    const secretName = sa.secrets?.[0]?.name;
    if (!secretName) return undefined;
    const s = await admin.get<KubeObjectLike & { data?: { token?: string } }>({ group: '', version: 'v1', plural: 'secrets', kind: 'Secret' }, ns, secretName);
    return s.data?.token ? Buffer.from(s.data.token, 'base64').toString('utf8') : undefined;
  }, 60_000);
  return {
    client: admin.withToken(token),
    token,
    cleanup: async () => {
      for (const [r, name] of clusterScoped) await admin.delete(r, '', name).catch((err: unknown) => {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      });
    },
  };
}

export async function getOrUndefined<T extends KubeObjectLike>(c: KubeClient, r: Resource, ns: string, name: string): Promise<T | undefined> {
  try {
    return await c.get<T>(r, ns, name);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return undefined;
    throw err;
  }
}

/** Creates documents (kubemta objects, Secrets) in `ns` as the admin, the way kubectl apply would. */
export async function applyDocs(admin: KubeClient, ns: string, docs: Record<string, unknown>[]): Promise<void> {
  const { Resources } = await import('../operator/api/resources.ts');
  for (const d of docs) {
    const o = structuredClone(d) as KubeObjectLike;
    o.metadata = { ...o.metadata, namespace: ns };
    const r = Resources[o.kind as keyof typeof Resources];
    await admin.apply(r, ns, o, 'kubectl', { force: true });
  }
}

/**
 * An operator under test in a throwaway namespace: CRDs installed, the shipped RBAC's token, a Manager
 * started in-process with `opts`; `stop()` undoes it all.
 */
export async function startOperator(prefix: string, opts: Omit<ManagerOptions, 'client' | 'log' | 'namespace'> & { log?: Logger }): Promise<{ admin: KubeClient; ns: string; manager: Manager; stop: () => Promise<void> }> {
  const admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
  await installCrds(admin);
  const ns = await createNamespace(admin, prefix);
  const op = await operatorClient(admin, ns);
  const manager = new Manager({ log: silentLog, ...opts, client: op.client, namespace: ns });
  await manager.start();
  return {
    admin,
    ns,
    manager,
    stop: async () => {
      await manager.stop();
      await op.cleanup();
      await deleteNamespace(admin, ns);
    },
  };
}
