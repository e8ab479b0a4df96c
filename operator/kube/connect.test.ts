// The operator's first contact: a warning per failed attempt (error, backoff), one line when it connects.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer } from 'node:net';
import { generate } from 'selfsigned';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { kubeConfigAt } from '../../test/kubeconfig.ts';
import { KubeClient } from './client.ts';
import { connectToApiServer } from './connect.ts';
import { until } from '../../test/until.ts';

function capture(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write(chunk, _e, cb) { out.push(String(chunk)); cb(); } }));
  return { log, lines: () => out.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function clientFor(port: number): Promise<KubeClient> {
  return KubeClient.fromKubeConfig(kubeConfigAt(`https://127.0.0.1:${port}`));
}

describe('operator/kube/connect', () => {
  it('warns with the error and the backoff while the API server is unreachable, and logs once when it connects', async () => {
    // a port that refuses until the "API server" starts listening on it
    const probe = createTcpServer();
    probe.listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const { log, lines } = capture();
    let server: Server | undefined;
    try {
      const connected = connectToApiServer(await clientFor(port), log, { initialDelayMs: 50, maxDelayMs: 200 });
      await until('three failed attempts', () => lines().filter((l) => l.msg === 'API server unreachable; retrying with backoff').length >= 3, 5000);
      const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048 });
      server = createServer({ key: pems.private, cert: pems.cert }, (_req, res) => res.end(JSON.stringify({ gitVersion: 'v1.20.2' })));
      server.listen(port, '127.0.0.1');
      await connected;
      const warnings = lines().filter((l) => l.level === 40);
      assert.ok(warnings.length >= 3, `warnings: ${warnings.length}`);
      assert.equal(warnings[0].code, 'ECONNREFUSED');
      assert.match(String(warnings[0].err), /ECONNREFUSED/);
      assert.deepEqual(warnings.slice(0, 3).map((w) => w.retryInMs), [50, 100, 200]);
      const ok = lines().filter((l) => l.msg === 'connected to the API server');
      assert.equal(ok.length, 1);
      assert.equal(ok[0].version, 'v1.20.2');
    } finally {
      server?.closeAllConnections();
      await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    }
  });
});
