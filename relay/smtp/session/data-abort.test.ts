// A client that goes away (or stalls into the DATA timeout) in the middle of DATA must cost the relay
// nothing afterwards: no open descriptor, no file left in incoming/. Measured on a relay child process
// through /proc/<pid>/fd, driven by raw TCP clients.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, killChild, openFds, RawSmtp, spawnRelay, tempDir, writeConfig } from '../../../test/harness.ts';
import { until } from '../../../test/until.ts';

/** Opens a session and gets as far as the 354 of DATA (commands pipelined, as a spam engine would). */
async function intoData(port: number): Promise<RawSmtp> {
  const c = await RawSmtp.open(port);
  c.send('EHLO abort.test\r\nMAIL FROM:<s@elsewhere.test>\r\nRCPT TO:<ann@example.test>\r\nDATA\r\n');
  for (const want of ['250', '250', '250', '354']) {
    const r = await c.reply();
    if (!r.startsWith(want)) throw new Error(`expected ${want}, got ${JSON.stringify(r)}`);
  }
  c.send('Subject: cut short\r\n\r\n' + 'x'.repeat(4000) + '\r\n');
  return c;
}

describe('DATA cut short (client gone, DATA timeout)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let child: ChildProcess;
  let port: number;
  const incoming = async () => (await readdir(join(dir, 'queue', 'incoming'))).length;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const file = await writeConfig(
      dir,
      baseConfig({
        log: { level: 'info' },
        tables: { v: { type: 'virtual', entries: { 'ann@example.test': 'ann' } } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
        limits: { dataTimeoutSeconds: 1, maxConnectionsPerClient: 1000 },
      }),
    );
    const r = await spawnRelay(file);
    child = r.child;
    port = r.ports.plain;
  });
  after(async () => {
    await killChild(child);
    await cleanup();
  });

  it('1,000 clients that disconnect mid-DATA leave no descriptor and no file in incoming/ behind', async () => {
    // one whole session first, so lazily opened files (mbox writer, logs) are in the baseline
    const warm = await intoData(port);
    assert.match(await warm.command('.'), /^250 2\.0\.0/);
    warm.end();
    await until('warm-up mail committed', async () => (await incoming()) === 0, 5000);
    const baseline = await openFds(child.pid!);
    let done = 0;
    const worker = async () => {
      while (done < 1000) {
        done++;
        const c = await intoData(port);
        c.end();
      }
    };
    await Promise.all(Array.from({ length: 20 }, worker));
    const settled = Date.now();
    let fds = 0;
    let left = 0;
    await until('descriptors and incoming/ back to the baseline', async () => {
        fds = await openFds(child.pid!);
        left = await incoming();
        return fds <= baseline + 2 && left === 0;
      }, 1000).catch(() => assert.fail(`1 s after 1,000 aborted DATA: ${fds} descriptors (baseline ${baseline}), ${left} files in incoming/`));
    console.log(`# aborted DATA x1000: fds baseline ${baseline}, after ${fds} (settled in ${Date.now() - settled} ms), incoming/ ${left}`);
  });

  it('a client that stalls mid-DATA gets 421 at the DATA timeout, and leaves nothing behind', async () => {
    const baseline = await openFds(child.pid!);
    const clients = await Promise.all(Array.from({ length: 20 }, () => intoData(port)));
    const replies = await Promise.all(clients.map((c) => c.reply(5000)));
    for (const r of replies) assert.match(r, /^421 4\.4\.2 /);
    for (const c of clients) c.end();
    await until('descriptors and incoming/ back to the baseline', async () => (await openFds(child.pid!)) <= baseline + 2 && (await incoming()) === 0, 1000);
  });
});
