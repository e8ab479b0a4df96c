// `kubemta operator` as a process (cli/operator.ts), the way it runs outside a cluster: a KUBECONFIG that
// holds the operator's ServiceAccount token. It reconciles, serves /healthz and /metrics, logs JSON lines,
// and on SIGTERM stops and gives its Lease up.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getOrUndefined, installCrds, operatorClient, skipReason } from '../../test/cluster-kit.ts';
import { until } from '../../test/until.ts';
import { Resources } from '../api/resources.ts';

const KUBEMTA = new URL('../../bin/kubemta', import.meta.url).pathname;
type Obj = KubeObjectLike & { status?: { conditions?: { type: string; status: string }[] } };

describe('kubemta operator (the program) on a real API server', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let op: Awaited<ReturnType<typeof operatorClient>>;
  let dir: string;
  let child: ChildProcess | undefined;
  const lines: string[] = [];

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    ns = await createNamespace(admin, 'kubemta-proc');
    op = await operatorClient(admin, ns);
    // the admin's kubeconfig with the ServiceAccount's token in place of the admin's
    const kc = yaml.load(readFileSync(process.env.KUBECONFIG!, 'utf8')) as { users: { user: Record<string, unknown> }[] };
    for (const u of kc.users) u.user = { token: op.token };
    dir = mkdtempSync(join(tmpdir(), 'kubemta-operator-'));
    writeFileSync(join(dir, 'kubeconfig'), yaml.dump(kc), { mode: 0o600 });
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('reconciles with the ServiceAccount token, serves /healthz and /metrics, logs JSON, and stops cleanly on SIGTERM', async () => {
    await applyDocs(admin, ns, seedDocuments());
    const proc = spawn(KUBEMTA, ['operator', '--namespace', ns, '--kubeconfig', join(dir, 'kubeconfig'), '--http-address', '127.0.0.1', '--http-port', '0', '--leader-election-namespace', ns, '--no-relay-check'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, KUBECONFIG: '', POD_NAME: 'operator-under-test' },
    });
    child = proc;
    let buf = '';
    proc.stdout!.on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts.filter(Boolean));
    });
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const running = await until('operator running', async () => lines.map((l) => JSON.parse(l) as { msg: string; port?: number }).find((l) => l.msg.startsWith('operator running')), 60_000);
    await until('MailServer Ready', async () => (await getOrUndefined<Obj>(admin, Resources.MailServer, ns, 'post'))?.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'), 60_000);
    assert.equal((await fetch(`http://127.0.0.1:${running.port}/healthz`)).status, 200);
    assert.match(await (await fetch(`http://127.0.0.1:${running.port}/metrics`)).text(), /kubemta_operator_reconciles_total\{kind="MailServer",result="ok"\} [1-9]/);
    const lease = await admin.get<KubeObjectLike & { spec: { holderIdentity?: string } }>(Resources.Lease, ns, 'kubemta-operator');
    assert.equal(lease.spec.holderIdentity, 'operator-under-test');

    proc.kill('SIGTERM');
    const code = await new Promise<number | null>((resolve) => (proc.exitCode !== null ? resolve(proc.exitCode) : proc.once('exit', (c) => resolve(c))));
    assert.equal(code, 0, stderr);
    const released = await admin.get<KubeObjectLike & { spec: { holderIdentity?: string } }>(Resources.Lease, ns, 'kubemta-operator');
    assert.equal(released.spec.holderIdentity, undefined, 'the lease was given up');
    for (const l of lines) {
      const j = JSON.parse(l) as { level?: unknown; time?: unknown; msg?: unknown };
      assert.ok(j.level !== undefined && j.time !== undefined && typeof j.msg === 'string', l);
    }
    assert.ok(lines.some((l) => l.includes('"msg":"stopping"')));
  });
});
