// `kubemta relay --drain` as the operator's drain Job runs it: a queue left by a relay whose next hop was
// down is delivered by a relay without listeners once the next hop is back, whatever backoff the last
// attempts set, and the process exits 0 only when the queue is empty (a SIGTERM before that exits 143).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { baseConfig, exited, KUBEMTA, killChild, spawnRelay, swaks, tempDir, writeConfig } from '../test/harness.ts';
import { startSink, type TestSink } from '../test/smtp-sink.ts';
import { until } from '../test/until.ts';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function drain(file: string): { child: ChildProcess; log: () => string } {
  const child = spawn(KUBEMTA, ['relay', '--config', file, '--drain'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return { child, log: () => out };
}

describe('relay --drain', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let file: string;
  let nextHop: number;
  let sink: TestSink | undefined;
  const children: ChildProcess[] = [];
  const queued = async () => (await readdir(join(dir, 'queue', 'messages')).catch(() => [])).length;

  /** A relay (the replica before scale-down) accepts `ids` while its next hop is down, then stops. */
  const strand = async (ids: string[]) => {
    const before = await queued();
    const r = await spawnRelay(file);
    children.push(r.child);
    for (const id of ids) {
      const s = await swaks(r.ports.plain, ['--from', 'a@example.org', '--to', `${id}@example.net`, '--header', `Message-Id: <${id}@drain.test>`]);
      assert.equal(s.code, 0, s.transcript);
    }
    // every one deferred (connection refused) or, once the destination is paused, postponed: each waits a minute now
    await until('every mail deferred or postponed once', () => (r.log().match(/"delivery (deferred|postponed)"/g)?.length ?? 0) >= ids.length, 20_000);
    r.child.kill('SIGTERM');
    await exited(r.child);
    assert.equal(await queued(), before + ids.length);
  };

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    nextHop = await freePort();
    file = await writeConfig(
      dir,
      baseConfig({
        log: { level: 'info' },
        actions: { relay: { type: 'relay' } },
        rules: [{ name: 'lan', from: { networks: ['127.0.0.0/8'] }, for: 'any', action: 'relay' }],
        outbound: { smarthost: `smtp://127.0.0.1:${nextHop}`, tls: 'none', retry: { minSeconds: 60, maxSeconds: 3600 }, connectTimeoutSeconds: 2 },
      }),
    );
  });
  after(async () => {
    for (const c of children) await killChild(c);
    await sink?.close();
    await cleanup();
  });

  it('a SIGTERM before the queue is empty exits 143, not 0 (a Job must not count it as done), and keeps every mail', async () => {
    await strand(['early-1', 'early-2']);
    const d = drain(file);
    children.push(d.child);
    // "relay ready" comes after the SIGTERM handler is in place ("drain mode" before it: a SIGTERM then
    // killed the process by the signal, exit code null)
    await until('the drain started', () => d.log().includes('"relay ready"'), 20_000);
    d.child.kill('SIGTERM');
    await exited(d.child);
    assert.equal(d.child.exitCode, 143, d.log());
    assert.equal(await queued(), 2);
  });

  it('delivers every stranded mail once the next hop is back, without listeners, and exits 0 with the queue empty', async () => {
    const ids = ['m1', 'm2', 'm3', 'm4', 'm5'];
    await strand(ids);
    sink = await startSink({ port: nextHop });
    const d = drain(file);
    children.push(d.child);
    await until('the drain to exit', () => d.child.exitCode !== null || d.child.signalCode !== null, 30_000);
    assert.equal(d.child.exitCode, 0, d.log());
    assert.equal(await queued(), 0);
    const got = sink.received.map((m) => /^Message-Id: <([^@]+)@drain\.test>/im.exec(m.data.toString())?.[1]).sort();
    // the two from the test before, and these five: each exactly once
    assert.deepEqual(got, ['early-1', 'early-2', ...ids].sort());
    assert.match(d.log(), /"queue drained"/);
    assert.doesNotMatch(d.log(), /"msg":"listening"/);
  });
});
