// The local cluster's storage: a provisioner for the StorageClass `local` (the cluster's default), so a
// PersistentVolumeClaim binds as on any cluster with dynamic provisioning, and the README's install works
// here unchanged. Each claim gets a hostPath directory under the cluster's state dir. The directory is
// world-writable (0777): a hostPath volume gets no fsGroup, and the pod's uid is not known here; what a
// workload stores in it keeps its own modes (kubemta's queue and mail files are 0600). A released volume
// of class `local` is deleted with its directory. It polls once a second: a throwaway test cluster,
// where being simple beats a watch.
//
//   node e2e/cluster/provisioner.ts KUBECONFIG VOLUMES_DIR
import { mkdirSync, chmodSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1PersistentVolume } from '@kubernetes/client-node';

export const STORAGE_CLASS = 'local';
const PROVISIONED_BY = 'kubemta.io/local-provisioner';

async function pass(core: CoreV1Api, dir: string): Promise<void> {
  const claims = await core.listPersistentVolumeClaimForAllNamespaces();
  for (const c of claims.items) {
    const ns = c.metadata!.namespace!;
    const name = c.metadata!.name!;
    if (c.status?.phase !== 'Pending' || c.spec?.storageClassName !== STORAGE_CLASS || c.spec.volumeName) continue;
    const pvName = `local-${c.metadata!.uid}`;
    const path = join(dir, ns, name);
    mkdirSync(path, { recursive: true });
    chmodSync(path, 0o777);
    const pv: V1PersistentVolume = {
      metadata: { name: pvName, annotations: { 'pv.kubernetes.io/provisioned-by': PROVISIONED_BY } },
      spec: {
        capacity: { storage: c.spec.resources?.requests?.storage ?? '1Gi' },
        accessModes: c.spec.accessModes ?? ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: STORAGE_CLASS,
        claimRef: { namespace: ns, name, uid: c.metadata!.uid },
        hostPath: { path, type: 'Directory' },
      },
    };
    try {
      await core.createPersistentVolume({ body: pv });
      console.log(JSON.stringify({ msg: 'provisioned', claim: `${ns}/${name}`, volume: pvName, path }));
    } catch (err) {
      if ((err as { code?: number }).code !== 409) throw err;
    }
  }
  const volumes = await core.listPersistentVolume();
  for (const v of volumes.items) {
    if (v.metadata?.annotations?.['pv.kubernetes.io/provisioned-by'] !== PROVISIONED_BY || v.status?.phase !== 'Released') continue;
    await core.deletePersistentVolume({ name: v.metadata.name! });
    if (v.spec?.hostPath?.path.startsWith(dir + '/')) rmSync(v.spec.hostPath.path, { recursive: true, force: true });
    console.log(JSON.stringify({ msg: 'deleted', volume: v.metadata.name }));
  }
}

async function main(kubeconfig: string, dir: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  let failing = false;
  for (;;) {
    try {
      await pass(core, dir);
      failing = false;
    } catch (err) {
      if (!failing) console.error(JSON.stringify({ msg: 'provisioner pass failed; retrying every second', err: (err as Error).message }));
      failing = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

const [kubeconfig, dir] = process.argv.slice(2);
if (!kubeconfig || !dir) {
  console.error('usage: node e2e/cluster/provisioner.ts KUBECONFIG VOLUMES_DIR');
  process.exit(2);
}
await main(kubeconfig, dir);
