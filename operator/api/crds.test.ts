import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { crdFiles, driftedFiles, CRD_DIR } from './generate.ts';
import { validateObject } from './validate.ts';
import { DOC, withReference } from './reference.ts';

const EXAMPLES = new URL('../../examples/seed/k8s/', import.meta.url).pathname;

/** Every node of a structural schema has a type (or is int-or-string), and no anyOf/oneOf carries one. */
function structuralProblems(schema: Record<string, unknown>, at: string): string[] {
  const out: string[] = [];
  if (!schema.type && !schema['x-kubernetes-int-or-string']) out.push(`${at}: no type`);
  if (schema.additionalProperties === false) out.push(`${at}: additionalProperties: false`);
  if (schema.properties && schema.additionalProperties) out.push(`${at}: properties and additionalProperties`);
  for (const [k, v] of Object.entries((schema.properties as Record<string, Record<string, unknown>>) ?? {})) out.push(...structuralProblems(v, `${at}.${k}`));
  if (schema.items) out.push(...structuralProblems(schema.items as Record<string, unknown>, `${at}[]`));
  if (typeof schema.additionalProperties === 'object') out.push(...structuralProblems(schema.additionalProperties as Record<string, unknown>, `${at}{}`));
  return out;
}

describe('operator/api CRDs', () => {
  it('crds/ holds exactly what the TypeBox schemas generate (run npm run crds after a schema change)', () => {
    assert.deepEqual(driftedFiles(), []);
    assert.deepEqual(readdirSync(CRD_DIR).filter((f) => f.endsWith('.kubemta.io.yaml')).sort(), [...crdFiles().keys()].sort());
  });

  it('docs/operator.md carries the API reference the schemas generate (node operator/api/reference.ts)', () => {
    const doc = readFileSync(DOC, 'utf8');
    assert.equal(withReference(doc), doc);
  });

  it('every CRD is structural, namespaced, with a status subresource (MailServer also scale) and Ready/Age printer columns', () => {
    for (const [name, text] of crdFiles()) {
      const crd = yaml.load(text) as { spec: { scope: string; versions: { subresources: unknown; additionalPrinterColumns: { name: string }[]; schema: { openAPIV3Schema: Record<string, unknown> } }[] } };
      assert.equal(crd.spec.scope, 'Namespaced');
      const v = crd.spec.versions[0];
      const scale = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };
      assert.deepEqual(v.subresources, name.startsWith('mailservers.') ? { status: {}, scale } : { status: {} }, name);
      const cols = v.additionalPrinterColumns.map((c) => c.name);
      assert.ok(cols.includes('Ready') && cols.includes('Age') && cols.length >= 4, `${name}: ${cols}`);
      const props = v.schema.openAPIV3Schema.properties as Record<string, Record<string, unknown>>;
      assert.deepEqual([...structuralProblems(props.spec, 'spec'), ...structuralProblems(props.status, 'status')], [], name);
      assert.ok(!text.includes('x-kubernetes-validations'), 'Kubernetes 1.20 drops CEL rules; they are checked in code');
    }
  });

  it('accepts every seed example and fills the schema defaults', () => {
    for (const f of readdirSync(EXAMPLES)) {
      for (const doc of yaml.loadAll(readFileSync(EXAMPLES + f, 'utf8')) as { kind: string; apiVersion: string }[]) {
        if (!doc.apiVersion.startsWith('kubemta.io/')) continue;
        const v = validateObject(doc);
        assert.ok(v.ok, `${f} ${doc.kind}: ${v.ok ? '' : v.problems.join('; ')}`);
      }
    }
    const v = validateObject({ apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'x' }, spec: { mailServerRef: { name: 's' }, port: 25 } });
    assert.ok(v.ok);
    assert.equal((v.object.spec as { family: string }).family, 'any');
    assert.deepEqual((v.object.spec as { service: unknown }).service, { type: 'ClusterIP' });
  });

  it('names the field of a schema violation and of a rule CEL would state', () => {
    const bad = validateObject({ apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'x' }, spec: { mailServerRef: { name: 's' }, port: 70000, tls: { mode: 'tls' } } });
    assert.ok(!bad.ok);
    assert.ok(bad.problems.some((p) => p.startsWith('spec.port')), bad.problems.join('; '));
    assert.ok(bad.problems.some((p) => p.startsWith('spec.tls.mode')), bad.problems.join('; '));
    const both = validateObject({ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: 'x' }, spec: { mailDomainRef: { name: 'd' }, address: 'a@b.c', localPart: 'a', mailbox: 'a' } });
    assert.deepEqual(both.ok ? [] : both.problems, ['spec: give exactly one of address and localPart']);
    const noPki = validateObject({ apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'x' }, spec: { mailServerRef: { name: 's' }, port: 25, tls: { mode: 'starttls' } } });
    assert.deepEqual(noPki.ok ? [] : noPki.problems, ['spec.tls.pkiCertRef: required for tls mode starttls']);
  });
});
