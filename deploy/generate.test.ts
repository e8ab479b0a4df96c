// Drift: the chart's CRDs are crds/, its RBAC file is operator/rbac/rbac.yaml, and deploy/kubemta.yaml is
// `helm template` of the chart. Fix with `node deploy/generate.ts`. Skipped when no helm can be found.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { MANIFESTS, PLAIN, drift, expectedFiles, findHelm } from './generate.ts';

const helmBin = findHelm();
const skip = helmBin ? false : 'no helm (KUBEMTA_HELM, PATH or e2e/cluster/cluster.sh tools)';
const CLUSTER_SCOPED = new Set(['Namespace', 'CustomResourceDefinition', 'ClusterRole', 'ClusterRoleBinding']);

describe('deploy/generate', { skip }, () => {
  it('finds the chart\'s copies and deploy/kubemta.yaml up to date (else: node deploy/generate.ts)', () => {
    assert.deepEqual(drift(expectedFiles(helmBin!)), []);
  });

  it('writes deploy/kubemta.yaml for kubectl apply: the namespace first, then CRDs, fixed names, nothing imperative', () => {
    const text = readFileSync(MANIFESTS, 'utf8');
    const docs = (yaml.loadAll(text) as { apiVersion: string; kind: string; metadata: { name?: string; generateName?: string; namespace?: string } }[]).filter(Boolean);
    assert.equal(docs[0].kind, 'Namespace');
    assert.equal(docs[0].metadata.name, PLAIN.namespace);
    const kinds = docs.map((d) => d.kind);
    assert.ok(kinds.lastIndexOf('CustomResourceDefinition') < kinds.indexOf('ServiceAccount'), 'CRDs before the operator');
    assert.equal(kinds.filter((k) => k === 'CustomResourceDefinition').length, 5);
    for (const d of docs) {
      assert.ok(d.metadata.name && !d.metadata.generateName, `${d.kind}: a fixed name`);
      assert.equal(d.metadata.namespace, CLUSTER_SCOPED.has(d.kind) ? undefined : PLAIN.namespace, `${d.kind}/${d.metadata.name}`);
      assert.notEqual(d.kind, 'Job', 'no Jobs or hooks: apply is declarative');
    }
    assert.doesNotMatch(text, /helm\.sh\/hook/);
    const names = docs.map((d) => `${d.kind}/${d.metadata.name}`);
    assert.equal(new Set(names).size, names.length, 'no duplicates');
  });
});
