// CPU per API request of the operator's client (operator/kube/client.ts, on @kubernetes/client-node):
// REQUESTS status applies, IN_FLIGHT at a time, against a minimal HTTPS API server in a child process, so
// the figure is the client's CPU alone (user+sys of this process, divided by the requests); IN_PROCESS=1
// serves from this process instead (client and server together, as measured before the move to client-node).
//   node bench/kube-transport.ts        env: REQUESTS (5000) IN_FLIGHT (16) REPS (3) IN_PROCESS (0)
import { fork } from 'node:child_process';
import { createServer } from 'node:https';
import { once } from 'node:events';
import { generate } from 'selfsigned';
import { KubeClient } from '../operator/kube/client.ts';
import { kubeConfigAt } from '../test/kubeconfig.ts';

const R = { group: 'kubemta.io', version: 'v1alpha1', plural: 'virtualusers', kind: 'VirtualUser' };

async function serve(): Promise<number> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048 });
  // an answer the size of a VirtualUser with its managedFields (~1.5 KB), as the API server sends back
  const answer = JSON.stringify({
    apiVersion: 'kubemta.io/v1alpha1',
    kind: 'VirtualUser',
    metadata: { name: 'user42', namespace: 'ns', uid: '7d0c4c1e-0000-4000-8000-000000000042', resourceVersion: '123456', generation: 1, creationTimestamp: '2026-12-06T02:00:00Z', managedFields: Array.from({ length: 3 }, (_, i) => ({ manager: `m${i}`, operation: 'Apply', apiVersion: 'kubemta.io/v1alpha1', time: '2026-12-06T02:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { '.': {}, 'f:conditions': {}, 'f:observedGeneration': {} } } })) },
    spec: { mailDomainRef: { name: 'example-org' }, address: 'user42@example.org', mailbox: 'user42', login: { passwordHashSecretRef: { name: 'user-hashes-0', key: 'user42' } } },
    status: { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'in the tables of MailServer "post"', lastTransitionTime: '2026-12-06T02:00:00Z', observedGeneration: 1 }] },
  });
  const server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/apis/kubemta.io/v1alpha1') return res.end(JSON.stringify({ kind: 'APIResourceList', resources: [{ name: 'virtualusers', namespaced: true, kind: 'VirtualUser' }, { name: 'virtualusers/status', namespaced: true, kind: 'VirtualUser' }] }));
      res.end(answer);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as { port: number }).port;
}

async function measure(): Promise<void> {
  const REQUESTS = Number(process.env.REQUESTS ?? 5000);
  const IN_FLIGHT = Number(process.env.IN_FLIGHT ?? 16);
  const REPS = Number(process.env.REPS ?? 3);
  const inProcess = process.env.IN_PROCESS === '1';
  const child = inProcess ? undefined : fork(new URL(import.meta.url).pathname, ['serve'], { execArgv: ['--disable-warning=ExperimentalWarning'] });
  const port = child ? ((await once(child, 'message')) as [number])[0] : await serve();
  try {
    const client = await KubeClient.fromKubeConfig(kubeConfigAt(`https://127.0.0.1:${port}`));
    const status = { observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'in the tables of MailServer "post"', lastTransitionTime: '2026-12-06T02:00:00Z', observedGeneration: 1 }] };
    const round = async (n: number) => {
      let i = 0;
      await Promise.all(Array.from({ length: IN_FLIGHT }, async () => {
        while (i < n) await client.apply(R, 'ns', { apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name: `user${i++}` }, status }, 'kubemta-operator', { status: true, force: true });
      }));
    };
    await round(500); // warm: connections, discovery, JIT
    for (let rep = 1; rep <= REPS; rep++) {
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await round(REQUESTS);
      const cpu = process.cpuUsage(cpu0);
      const s = (performance.now() - t0) / 1000;
      process.stdout.write(`rep ${rep}: ${REQUESTS} status applies, ${IN_FLIGHT} in flight: ${(((cpu.user + cpu.system) / 1000) / REQUESTS).toFixed(3)} ms CPU per request (${inProcess ? 'client and server' : 'client'}), ${s.toFixed(1)} s, ${(REQUESTS / s).toFixed(0)}/s\n`);
    }
  } finally {
    if (child) child.kill();
    else process.exit(0); // the in-process server keeps the loop alive
  }
}

if (process.argv[2] === 'serve') process.send!(await serve());
else await measure();
