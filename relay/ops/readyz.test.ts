// /readyz follows the queue: not ready while the queue filesystem is below queue.minFreeBytes or cannot
// be written (remounted read-only), ready again once it recovers — asked with curl, as a kubelet would.
// The queue lives on a tmpfs of its own here, so "full" and "read-only" are real (mount needs root).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, RawSmtp, run, startTestRelay, tempDir } from '../../test/harness.ts';
import { until } from '../../test/until.ts';

const root = process.getuid?.() === 0;

describe('/readyz and the queue filesystem', { skip: !root && 'needs root to mount a tmpfs' }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let queue: string;
  let mounted = false;
  let t: Awaited<ReturnType<typeof startTestRelay>> | undefined;
  const readyz = async () => {
    const r = await run('curl', ['-s', '-w', '\n%{http_code}', `http://127.0.0.1:${t!.relay.httpPort}/readyz`]);
    const lines = r.stdout.trim().split('\n');
    return { status: Number(lines.pop()), body: lines.join('\n') };
  };
  const becomes = (status: number, what: string) => until(what, async () => (await readyz()).status === status, 5000);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    queue = join(dir, 'queue');
    await mkdir(queue);
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', queue]);
    assert.equal(m.code, 0, m.stderr);
    mounted = true;
    t = await startTestRelay(dir, baseConfig({ queue: { dir: 'queue', minFreeBytes: 4 * 1024 * 1024 } }));
  });
  after(async () => {
    await t?.relay.stop();
    if (mounted) await run('umount', ['-l', queue]);
    await cleanup();
  });

  it('is 503 while the queue is below its free-space floor (and MAIL gets 452 4.3.1), 200 once space is back', async () => {
    assert.equal((await readyz()).status, 200);
    const filler = join(queue, 'filler');
    await writeFile(filler, Buffer.alloc(6 * 1024 * 1024));
    try {
      await becomes(503, '/readyz 503 with the queue full');
      assert.match((await readyz()).body, /not ready: queue full/);
      const c = await RawSmtp.open(t!.port('plain'));
      await c.command('EHLO x');
      assert.match(await c.command('MAIL FROM:<a@example.org>'), /^452 4\.3\.1 /);
      c.end();
    } finally {
      await rm(filler, { force: true });
    }
    await becomes(200, '/readyz 200 with space again');
  });

  it('is 503 while the queue filesystem is read-only, 200 once it is writable again', async () => {
    const ro = await run('mount', ['-o', 'remount,ro', queue]);
    assert.equal(ro.code, 0, ro.stderr);
    try {
      await becomes(503, '/readyz 503 with the queue read-only');
      assert.match((await readyz()).body, /not ready: queue read-only \(EROFS\)/);
    } finally {
      await run('mount', ['-o', 'remount,rw', queue]);
    }
    await becomes(200, '/readyz 200 with the queue writable');
  });
});
