// Unit tier (no cluster): the `restricted` check itself, and every pod the operator renders for the seed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { render } from '../operator/render/render.ts';
import { snapshotFromDocuments } from '../operator/render/documents.ts';
import { kubemtaViolations, podTemplates, restrictedViolations, type PodTemplateLike } from './pss.ts';

const SEED = new URL('../examples/seed/k8s/', import.meta.url).pathname;

function seedDocs(): unknown[] {
  return readdirSync(SEED).filter((f) => f.endsWith('.yaml')).sort().flatMap((f) => yaml.loadAll(readFileSync(SEED + f, 'utf8')));
}

function goodPod(): PodTemplateLike {
  return {
    spec: {
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [{ name: 'c', securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } } }],
      volumes: [{ name: 'v', emptyDir: {} }, { name: 'p', persistentVolumeClaim: { claimName: 'x' } }],
    },
  };
}

describe('e2e/pss: the restricted Pod Security Standard', () => {
  it('passes a pod with non-root, no escalation, no capabilities, RuntimeDefault seccomp', () => {
    assert.deepEqual(restrictedViolations(goodPod()), []);
    assert.deepEqual(kubemtaViolations(goodPod()), []);
  });

  it('names each field that breaks it', () => {
    const cases: [string, (p: PodTemplateLike) => void][] = [
      ['spec.hostNetwork', (p) => (p.spec.hostNetwork = true)],
      ['hostPath volumes', (p) => p.spec.volumes!.push({ name: 'h', hostPath: { path: '/' } })],
      ['allowPrivilegeEscalation', (p) => delete p.spec.containers[0].securityContext!.allowPrivilegeEscalation],
      ['runAsNonRoot', (p) => delete p.spec.securityContext!.runAsNonRoot],
      ['runAsUser: 0', (p) => (p.spec.containers[0].securityContext!.runAsUser = 0)],
      ['seccompProfile', (p) => (p.spec.securityContext!.seccompProfile = { type: 'Unconfined' })],
      ['drop must include ALL', (p) => (p.spec.containers[0].securityContext!.capabilities = { drop: ['NET_RAW'] })],
      ['capabilities.add: SYS_ADMIN', (p) => (p.spec.containers[0].securityContext!.capabilities!.add = ['SYS_ADMIN'])],
      ['privileged', (p) => (p.spec.containers[0].securityContext!.privileged = true)],
      ['hostPort', (p) => (p.spec.containers[0].ports = [{ hostPort: 25 }])],
      ['not a safe sysctl', (p) => (p.spec.securityContext!.sysctls = [{ name: 'kernel.msgmax' }])],
    ];
    for (const [want, breakIt] of cases) {
      const p = goodPod();
      breakIt(p);
      const v = restrictedViolations(p);
      assert.ok(v.some((x) => x.includes(want)), `${want}: got ${JSON.stringify(v)}`);
    }
    const p = goodPod();
    p.spec.containers[0].securityContext!.capabilities!.add = ['NET_BIND_SERVICE'];
    assert.deepEqual(restrictedViolations(p), [], 'NET_BIND_SERVICE may be added');
    delete p.spec.containers[0].securityContext!.readOnlyRootFilesystem;
    assert.match(kubemtaViolations(p).join(), /readOnlyRootFilesystem/);
  });

  for (const replicas of [1, 3]) {
    it(`passes the relay pod the operator renders for the seed (replicas ${replicas}: ${replicas > 1 ? 'StatefulSet' : 'Deployment'})`, () => {
      const docs = seedDocs() as { kind?: string; spec?: { replicas?: number } }[];
      for (const d of docs) if (d?.kind === 'MailServer') d.spec!.replicas = replicas;
      const { snapshot } = snapshotFromDocuments(docs);
      const out = render(snapshot, { namespace: 'mail' });
      const pods = podTemplates(out.servers.flatMap((s) => s.manifests));
      assert.deepEqual(pods.map((p) => p.name), [replicas > 1 ? 'StatefulSet/post' : 'Deployment/post']);
      for (const { name, pod } of pods) {
        assert.deepEqual(restrictedViolations(pod), [], name);
        assert.deepEqual(kubemtaViolations(pod), [], name);
      }
    });
  }
});
