// charts/kubemta without a cluster: helm lint, deterministic helm template, RBAC equal to
// operator/rbac/rbac.yaml, the operator pod under the `restricted` profile, APIs that exist from
// Kubernetes 1.20 to today, values that change what they say. Skipped when no helm can be found.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { CHART, ROOT, findHelm, helm } from '../deploy/generate.ts';
import { kubemtaViolations, podTemplates, restrictedViolations } from '../e2e/pss.ts';

const helmBin = findHelm();
const skip = helmBin ? false : 'no helm (KUBEMTA_HELM, PATH or e2e/cluster/cluster.sh tools)';

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

function template(release = 'kubemta', namespace = 'kubemta-system', ...args: string[]): Obj[] {
  const text = helm(helmBin!, ['template', release, CHART, '--namespace', namespace, ...args]);
  return (yaml.loadAll(text) as Obj[]).filter(Boolean);
}
const find = (objs: Obj[], kind: string) => objs.filter((o) => o.kind === kind);
function one(objs: Obj[], kind: string): Obj {
  const found = find(objs, kind);
  assert.equal(found.length, 1, `one ${kind}`);
  return found[0];
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- rendered manifests are untyped JSON
const operatorContainer = (objs: Obj[]): any => (one(objs, 'Deployment').spec as any).template.spec.containers[0];

/** apiVersion → the Kubernetes versions that serve it: all of these exist in 1.20 and are still served. */
const STABLE_APIS = new Set(['v1', 'apps/v1', 'rbac.authorization.k8s.io/v1', 'apiextensions.k8s.io/v1', 'monitoring.coreos.com/v1']);

describe('charts/kubemta', { skip }, () => {
  it('passes helm lint --strict, with default values and with every option on', () => {
    helm(helmBin!, ['lint', '--strict', CHART]);
    helm(helmBin!, [
      'lint', '--strict', CHART, '--set', 'serviceMonitor.enabled=true,operator.watchNamespace=mail,operator.replicas=2',
      '--set', 'image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000',
      '--set', 'operator.extraEnv[0].name=A,operator.extraEnv[0].value=b,operator.hostAliases[0].ip=10.0.0.1,operator.hostAliases[0].hostnames[0]=x',
    ]);
  });

  it('renders the same bytes every time, from templates without clocks, randomness or cluster lookups', () => {
    const a = helm(helmBin!, ['template', 'kubemta', CHART, '-n', 'kubemta-system', '--include-crds']);
    const b = helm(helmBin!, ['template', 'kubemta', CHART, '-n', 'kubemta-system', '--include-crds']);
    assert.equal(a, b);
    for (const f of readdirSync(join(CHART, 'templates'))) {
      const text = readFileSync(join(CHART, 'templates', f), 'utf8');
      assert.doesNotMatch(text, /\b(now|rand\w*|uuidv4|genCA|genPrivateKey|genSelfSignedCert|genSignedCert|lookup|randAlphaNum)\b/, f);
    }
  });

  it('renders operator/rbac/rbac.yaml exactly for release kubemta in kubemta-system (labels aside)', () => {
    const strip = (o: Obj) => {
      const { labels: _l, annotations: _a, ...metadata } = o.metadata as Obj['metadata'] & { annotations?: unknown };
      return { ...o, metadata };
    };
    const shipped = (yaml.loadAll(readFileSync(join(ROOT, 'operator/rbac/rbac.yaml'), 'utf8')) as Obj[]).filter(Boolean);
    const kinds = new Set(shipped.map((o) => o.kind));
    const rendered = template().filter((o) => kinds.has(o.kind)).map(strip);
    const key = (o: Obj) => `${o.kind}/${o.metadata.name}`;
    assert.deepEqual(rendered.sort((x, y) => key(x).localeCompare(key(y))), shipped.sort((x, y) => key(x).localeCompare(key(y))));
  });

  it('names every object after the release, so two releases do not collide', () => {
    const objs = template('mail', 'mta');
    for (const o of objs) assert.match(o.metadata.name, /^mail-kubemta-operator/, `${o.kind}/${o.metadata.name}`);
    for (const o of objs) if (o.kind !== 'ClusterRole' && o.kind !== 'ClusterRoleBinding') assert.equal(o.metadata.namespace, 'mta', `${o.kind}/${o.metadata.name}`);
  });

  it('runs the operator pod under the restricted Pod Security Standard, read-only root filesystem', () => {
    const pods = podTemplates(template());
    assert.deepEqual(pods.map((p) => p.name), ['Deployment/kubemta-operator']);
    assert.deepEqual(restrictedViolations(pods[0].pod), []);
    assert.deepEqual(kubemtaViolations(pods[0].pod), []);
  });

  it('uses only APIs served from Kubernetes 1.20 to today, and installs on 1.20', () => {
    const objs = [...template(), ...template('kubemta', 'kubemta-system', '--set', 'serviceMonitor.enabled=true,operator.watchNamespace=mail', '--include-crds')];
    for (const o of objs) assert.ok(STABLE_APIS.has(o.apiVersion), `${o.kind} ${o.apiVersion}`);
    helm(helmBin!, ['template', 'k', CHART, '--kube-version', '1.20.2']);
    helm(helmBin!, ['template', 'k', CHART, '--kube-version', '1.33.0']);
    assert.throws(() => helm(helmBin!, ['template', 'k', CHART, '--kube-version', '1.19.0']), /kubeVersion|incompatible/);
  });

  it('runs the operator from the image the MailServer CRD defaults to, at package.json\'s version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const chart = yaml.load(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as { version: string; appVersion: string };
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(chart.version, pkg.version);
    const crd = readFileSync(join(ROOT, 'crds/mailservers.kubemta.io.yaml'), 'utf8');
    const c = operatorContainer(template());
    assert.ok(crd.includes(`default: ${c.image}`), `MailServer spec.image default is ${c.image}`);
    assert.deepEqual(c.args.slice(0, 1), ['operator']);
  });

  it('watches every namespace through a ClusterRoleBinding by default; one namespace through a RoleBinding there', () => {
    const all = template();
    assert.equal(find(all, 'ClusterRoleBinding').length, 1);
    assert.ok(!operatorContainer(all).args.some((a: string) => a.startsWith('--namespace')));
    const scoped = template('kubemta', 'kubemta-system', '--set', 'operator.watchNamespace=mail');
    assert.equal(find(scoped, 'ClusterRoleBinding').length, 0);
    const bindings = find(scoped, 'RoleBinding').map((b) => `${b.metadata.namespace}/${b.metadata.name} → ${(b.roleRef as { kind: string }).kind}`);
    assert.deepEqual(bindings.sort(), ['kubemta-system/kubemta-operator-leader-election → Role', 'mail/kubemta-operator → ClusterRole']);
    assert.ok(operatorContainer(scoped).args.includes('--namespace=mail'));
  });

  it('serves metrics through a Service; a ServiceMonitor only when asked', () => {
    const objs = template();
    assert.equal(find(objs, 'ServiceMonitor').length, 0);
    const svc = one(objs, 'Service') as Obj & { spec: { ports: { port: number; targetPort: string }[]; selector: Record<string, string> } };
    assert.deepEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[8080, 'http-metrics']]);
    assert.equal(svc.spec.selector['app.kubernetes.io/name'], 'kubemta-operator', 'never the relay pods\' name=kubemta');
    const sm = one(template('kubemta', 'kubemta-system', '--set', 'serviceMonitor.enabled=true,serviceMonitor.labels.release=prom'), 'ServiceMonitor');
    assert.equal(sm.metadata.labels!.release, 'prom');
    assert.throws(() => template('k', 'n', '--set', 'serviceMonitor.enabled=true,metrics.service.enabled=false'), /needs metrics.service.enabled/);
  });

  it('passes values through: image digest, replicas, log level, env, host aliases', () => {
    const digest = 'sha256:' + 'a'.repeat(64);
    const objs = template('kubemta', 'kubemta-system', '--set', `image.digest=${digest},operator.replicas=2,operator.logLevel=debug`,
      '--set', 'operator.extraEnv[0].name=KUBERNETES_SERVICE_HOST,operator.extraEnv[0].value=kubernetes.default.svc',
      '--set', 'operator.hostAliases[0].ip=10.244.0.1,operator.hostAliases[0].hostnames[0]=kubernetes.default.svc');
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const dep = one(objs, 'Deployment') as any;
    const c = dep.spec.template.spec.containers[0];
    assert.equal(c.image, `kubemta.local/kubemta@${digest}`);
    assert.equal(dep.spec.replicas, 2);
    assert.ok(c.args.includes('--log-level=debug'));
    assert.deepEqual(c.env.map((e: { name: string }) => e.name), ['POD_NAMESPACE', 'POD_NAME', 'KUBERNETES_SERVICE_HOST']);
    assert.deepEqual(dep.spec.template.spec.hostAliases, [{ ip: '10.244.0.1', hostnames: ['kubernetes.default.svc'] }]);
  });
});
