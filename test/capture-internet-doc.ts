// Captures the real output shown in docs/internet.md: the operator (in this process) on the local
// cluster, examples/internet/shop.yaml applied with kubectl, its check pointed at a DNS server on loopback
// that the script fills the way a DNS admin (or external-dns) would. Run under the cluster lock:
//   flock /tmp/kubemta-cluster.lock node test/capture-internet-doc.ts OUTDIR
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { KubeClient, type KubeObjectLike, type Resource } from '../operator/kube/client.ts';
import { Manager } from '../operator/controllers/manager.ts';
import { Resources } from '../operator/api/resources.ts';
import { installCrds, silentLog } from './cluster-kit.ts';
import { startDns } from './dns-server.ts';
import { txtStrings, type DnsRecord } from '../operator/render/dns-records.ts';
import { until } from './until.ts';

const out = process.argv[2] ?? '/tmp/dd-doc';
mkdirSync(out, { recursive: true });
const tools = execFileSync('e2e/cluster/cluster.sh', ['tools'], { encoding: 'utf8' }).trim();
const kubectl = (...args: string[]) => execFileSync(join(tools, 'kubectl'), args, { encoding: 'utf8', env: process.env });
const save = (name: string, cmd: string, text: string) => writeFileSync(join(out, name), `$ ${cmd}\n${text}`);
const CRD: Resource = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
const NS = 'shop';

const admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
await installCrds(admin);
await admin.apply(CRD, '', yaml.load(readFileSync('test/fixtures/external-dns-crd.yaml', 'utf8')) as KubeObjectLike, 'kubemta-doc', { force: true });
await admin.create({ group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace' }, '', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
const dns = await startDns({});
const manager = new Manager({ client: admin, log: silentLog, namespace: NS, leaderElection: false, relayCheck: false });
await manager.start();
try {
  const doc = readFileSync('examples/internet/shop.yaml', 'utf8').replace('check: {}                    # DNSReady: resolve the records with the cluster\'s DNS every 10m', `check: { resolver: "${dns.server}", interval: 5s }`);
  writeFileSync(join(out, 'shop.yaml'), doc);
  // kubectl validates against the API server's OpenAPI, which lags a CRD update by a few seconds
  const applied = await until('kubectl apply accepted', async () => {
    try {
      return kubectl('apply', '-n', NS, '-f', join(out, 'shop.yaml'));
    } catch {
      return undefined;
    }
  }, 60_000, 2000);
  save('01-apply.txt', 'kubectl apply -n shop -f examples/internet/shop.yaml', applied);
  const md = () => admin.get<KubeObjectLike & { status?: { dnsRecords?: DnsRecord[]; conditions?: { type: string; status: string; reason: string }[] } }>(Resources.MailDomain, NS, 'shop');
  await until('DNSReady False naming the DKIM records too', async () => (await md()).status?.conditions?.some((c) => c.type === 'DNSReady' && c.reason === 'RecordsMissing' && (c as { message?: string }).message?.includes('_domainkey')), 60_000);
  save('02-get.txt', 'kubectl get -n shop maildomain -o wide', kubectl('get', '-n', NS, 'maildomain', '-o', 'wide'));
  save('03-describe-missing.txt', 'kubectl describe -n shop maildomain shop', kubectl('describe', '-n', NS, 'maildomain', 'shop'));
  save('04-secret.txt', 'kubectl describe -n shop secret shop-dkim', kubectl('describe', '-n', NS, 'secret', 'shop-dkim'));
  save('05-dnsendpoint.txt', 'kubectl get -n shop dnsendpoint shop-dns -o yaml', kubectl('get', '-n', NS, 'dnsendpoint', 'shop-dns', '-o', 'yaml'));
  // the DNS admin publishes everything but DMARC
  for (const r of (await md()).status!.dnsRecords!) {
    if (r.purpose === 'dmarc') continue;
    const e = (dns.zone[r.name] ??= {});
    if (r.type === 'MX') (e.mx ??= []).push([10, r.value.split(' ')[1].replace(/\.$/, '')]);
    else (e.txt ??= []).push(txtStrings(r.value));
  }
  await until('only DMARC missing', async () => (await md()).status?.conditions?.some((c) => c.type === 'DNSReady' && (c as { message?: string }).message === 'missing: TXT _dmarc.shop.example'), 60_000);
  save('06-describe-dmarc.txt', 'kubectl get -n shop maildomain shop -o jsonpath=\'{.status.conditions[?(@.type=="DNSReady")].message}\'', kubectl('get', '-n', NS, 'maildomain', 'shop', '-o', 'jsonpath={.status.conditions[?(@.type=="DNSReady")].message}') + '\n');
  const dmarc = (await md()).status!.dnsRecords!.find((r) => r.purpose === 'dmarc')!;
  dns.zone[dmarc.name] = { txt: [txtStrings(dmarc.value)] };
  await until('DNSReady True', async () => (await md()).status?.conditions?.some((c) => c.type === 'DNSReady' && c.status === 'True'), 60_000);
  save('07-describe-ready.txt', 'kubectl describe -n shop maildomain shop', kubectl('describe', '-n', NS, 'maildomain', 'shop'));
  save('08-wait.txt', 'kubectl wait -n shop --for=condition=DNSReady maildomain/shop', kubectl('wait', '-n', NS, '--for=condition=DNSReady', 'maildomain/shop', '--timeout=60s'));
} finally {
  await manager.stop();
  await dns.close();
  kubectl('delete', 'namespace', NS, '--wait=false');
  await admin.delete(CRD, '', 'dnsendpoints.externaldns.k8s.io').catch(() => undefined);
}
