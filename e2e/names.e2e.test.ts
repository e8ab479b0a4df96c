// Smarthost names resolve in a pod the way the pod resolves them (outbound.hostLookup: native): a Service's
// short name `sink.<namespace>` through the search domains the kubelet writes into resolv.conf, and a name
// only in the pod's hostAliases. The relay runs in a plain pod (the image, its config in a ConfigMap); this
// cluster has no cluster DNS, so the pod's resolv.conf is the one a kubelet with cluster DNS writes
// (dnsPolicy None with the same nameserver, search list and ndots:5), its nameserver a DNS server this test
// runs on the pod bridge, answering like CoreDNS for the Service's full name only. Run alone:
// KUBEMTA_E2E=1 node --test e2e/names.e2e.test.ts (root; KUBEMTA_E2E_BUILD=0 reuses the image tarball).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as yaml from 'js-yaml';
import { kubemtaImage, stopwatch } from './environment.ts';
import { BRIDGE_ADDRESS, Cluster } from './kube.ts';
import { swaks } from './mail.ts';
import { startSmarthost, type Smarthost } from './smarthost.ts';
import { startDns, type TestDns } from '../test/dns-server.ts';
import { until } from '../test/until.ts';

const enabled = process.env.KUBEMTA_E2E === '1';
const skip = enabled ? false : 'e2e tier: set KUBEMTA_E2E=1 (needs root; npm test does it)';
const NS = 'kubemta-e2e-names';
const PORT = 2525;

describe('e2e: smarthost names as a pod resolves them', { skip, timeout: 600_000 }, () => {
  const lap = stopwatch((msg) => process.stderr.write(`[e2e] ${msg}\n`));
  let cluster: Cluster;
  let sink: Smarthost;
  let dns: TestDns;
  let podIp = '';

  const removeNamespace = async () => {
    await cluster.kubectlTry(['delete', 'namespace', NS, '--ignore-not-found', '--wait=false']);
    await cluster.kubectlTry(['wait', '--for=delete', `namespace/${NS}`, '--timeout=180s']);
  };

  before(async () => {
    cluster = await Cluster.up();
    await removeNamespace();
    const { tag } = await kubemtaImage(cluster, lap);
    sink = await startSmarthost(BRIDGE_ADDRESS);
    const apply = (docs: object[]) => cluster.kubectl(['apply', '-f', '-'], docs.map((d) => `---\n${yaml.dump(d)}`).join(''));
    await apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS, labels: { 'kubemta.io/e2e': 'names' } } }]);
    // a Service for the smarthost on the host: no selector, its Endpoints the bridge address (kube-proxy routes it)
    await apply([
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'sink', namespace: NS }, spec: { ports: [{ name: 'smtp', port: PORT, targetPort: sink.port }] } },
      { apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'sink', namespace: NS }, subsets: [{ addresses: [{ ip: BRIDGE_ADDRESS }], ports: [{ name: 'smtp', port: sink.port }] }] },
    ]);
    const clusterIp = ((await cluster.get(['service', 'sink', '-n', NS])).spec as { clusterIP: string }).clusterIP;
    // the cluster DNS: only the full name, as CoreDNS answers (the short name is NXDOMAIN)
    dns = await startDns({ [`sink.${NS}.svc.cluster.local`]: { a: [clusterIp] } }, { address: BRIDGE_ADDRESS, port: 53 });
    const config = {
      hostname: 'relay.names.test',
      listeners: [{ name: 'plain', port: PORT, tls: 'none' }],
      queue: { dir: '/queue' },
      http: { address: '0.0.0.0', port: 8080 },
      log: { level: 'info' },
      actions: {
        service: { type: 'relay', smarthost: `smtp://sink.${NS}:${PORT}` },
        aliased: { type: 'relay', smarthost: `smtp://smarthost.aliased:${sink.port}` },
      },
      rules: [
        { from: 'any', for: { domain: 'service.test' }, action: 'service' },
        { from: 'any', for: { domain: 'alias.test' }, action: 'aliased' },
      ],
      outbound: { tls: 'none', retry: { minSeconds: 2, maxSeconds: 4 } },
    };
    await apply([
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'relay', namespace: NS }, data: { 'relay.yaml': yaml.dump(config) } },
      {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'relay', namespace: NS },
        spec: {
          securityContext: { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } },
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          dnsPolicy: 'None',
          dnsConfig: { nameservers: [BRIDGE_ADDRESS], searches: [`${NS}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'], options: [{ name: 'ndots', value: '5' }] },
          hostAliases: [{ ip: BRIDGE_ADDRESS, hostnames: ['smarthost.aliased'] }],
          containers: [{
            name: 'relay',
            image: tag,
            imagePullPolicy: 'Never',
            args: ['relay', '--config', '/config/relay.yaml'],
            ports: [{ containerPort: PORT }, { containerPort: 8080 }],
            readinessProbe: { httpGet: { path: '/readyz', port: 8080 }, periodSeconds: 1 },
            volumeMounts: [{ name: 'config', mountPath: '/config' }, { name: 'queue', mountPath: '/queue' }],
            securityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } },
          }],
          volumes: [{ name: 'config', configMap: { name: 'relay' } }, { name: 'queue', emptyDir: {} }],
        },
      },
    ]);
    await cluster.kubectl(['wait', '-n', NS, '--for=condition=Ready', 'pod/relay', '--timeout=120s']);
    podIp = ((await cluster.get(['pod', 'relay', '-n', NS])).status as { podIP: string }).podIP;
    lap('relay pod Ready');
  });
  after(async () => {
    if (cluster && process.env.KUBEMTA_E2E_KEEP !== '1') await removeNamespace();
    await Promise.all([sink?.close(), dns?.close()]);
    lap('cleaned up');
  });

  const relayLog = () => cluster.kubectl(['logs', '-n', NS, 'relay']);

  it('delivers through smtp://sink.<namespace>, the Service\'s short name, via the resolv.conf search list', async () => {
    const r = await swaks(podIp, PORT, ['--from', 'a@sender.test', '--to', 'x@service.test']);
    assert.equal(r.code, 0, r.transcript);
    await until('the mail at the smarthost through the Service', () => sink.received.find((m) => m.to.includes('x@service.test')), 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\nDNS queries: ${dns.queries.join(', ')}\nrelay log:\n${await relayLog()}`);
    });
    assert.ok(dns.queries.some((q) => q.startsWith(`A sink.${NS}.svc.cluster.local`)), `queries: ${dns.queries.join(', ')}`);
    lap('mail through the Service short name');
  });

  it('delivers through a smarthost named only in the pod\'s hostAliases', async () => {
    const r = await swaks(podIp, PORT, ['--from', 'a@sender.test', '--to', 'y@alias.test']);
    assert.equal(r.code, 0, r.transcript);
    await until('the mail at the smarthost through hostAliases', () => sink.received.find((m) => m.to.includes('y@alias.test')), 30_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\nrelay log:\n${await relayLog()}`);
    });
    assert.ok(!dns.queries.some((q) => q.includes('smarthost.aliased')), 'found in /etc/hosts, not asked of DNS');
    lap('mail through hostAliases');
  });
});
