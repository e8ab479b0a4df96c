// A relay killed while taking or holding an mbox dotlock must not hold that mailbox's mail back. strace
// kills the relay child (SIGKILL injected at a chosen system call) at the two moments that matter; a new
// relay on the same queue and mail store then has to deliver within seconds, not after staleLockMs (500 s).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, killChild, run, spawnRelay, swaks, tempDir, writeConfig } from '../../../test/harness.ts';
import { until } from '../../../test/until.ts';

const hasStrace = (await run('strace', ['-V'])).code === 0;
const WRITES = 'write,pwrite64,writev,pwritev,pwritev2';

/** The relay under strace: SIGKILL at the first write to `path` (by name or through a descriptor on it). */
function killAtFirstWrite(path: string): string[] {
  return ['strace', '-f', '-qq', '-o', '/dev/null', '-e', `trace=${WRITES}`, '-e', `inject=${WRITES}:signal=SIGKILL`, '-P', path];
}

/** The relay process under a strace child (strace's own pid is the child's). */
async function tracee(strace: ChildProcess): Promise<number | undefined> {
  const text = await readFile(`/proc/${strace.pid}/task/${strace.pid}/children`, 'utf8').catch(() => '');
  const pid = Number(text.trim().split(' ')[0]);
  return pid > 0 ? pid : undefined;
}

describe('mbox dotlock across a killed relay', { skip: !hasStrace && 'needs strace' }, () => {
  const children: ChildProcess[] = [];
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of children) {
      const pid = await tracee(c);
      if (pid) process.kill(pid, 'SIGKILL');
      await killChild(c);
    }
    for (const f of cleanups) await f();
  });

  async function scenario(killAt: (dir: string) => string): Promise<{ mbox: string; entries: string[] }> {
    const { dir, cleanup } = await tempDir();
    cleanups.push(cleanup);
    const file = await writeConfig(
      dir,
      baseConfig({
        log: { level: 'info' },
        mailStore: 'mail',
        tables: { v: { type: 'virtual', entries: { 'ann@example.test': 'ann' } } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
      }),
    );
    const mbox = join(dir, 'mail', 'mbox', 'ann');
    const first = await spawnRelay(file, [], killAtFirstWrite(killAt(mbox)));
    children.push(first.child);
    const r1 = await swaks(first.ports.plain, ['--from', 's@elsewhere.test', '--to', 'ann@example.test', '--header', 'Subject: first']);
    assert.match(r1.transcript, /250 2\.0\.0 Ok: queued as/);
    // killed by strace at that write, or (where the write never comes) done with the delivery: kill it then
    await until('the first relay to be killed or to deliver', async () => first.child.exitCode !== null || first.child.signalCode !== null || (await readFile(mbox, 'utf8').catch(() => '')).includes('Subject: first'), 10000);
    const pid = await tracee(first.child);
    if (pid) process.kill(pid, 'SIGKILL');
    await killChild(first.child);

    const second = await spawnRelay(file);
    children.push(second.child);
    const r2 = await swaks(second.ports.plain, ['--from', 's@elsewhere.test', '--to', 'ann@example.test', '--header', 'Subject: second']);
    assert.match(r2.transcript, /250 2\.0\.0 Ok: queued as/);
    const text = async () => readFile(mbox, 'utf8').catch(() => '');
    await until('both mails in the mbox within 5 s', async () => (await text()).includes('Subject: second') && (await text()).includes('Subject: first'), 5000).catch(async () => {
      const lock = await readFile(`${mbox}.lock`, 'utf8').catch(() => undefined);
      assert.fail(`mailbox held back; ann.lock is ${lock === undefined ? 'absent' : JSON.stringify(lock)}`);
    });
    // the mail is in the mbox before the relay releases its lock: killed in between, it would leave one
    await until('the second relay to release ann.lock', async () => (await readFile(`${mbox}.lock`).catch(() => undefined)) === undefined, 5000);
    await killChild(second.child);
    return { mbox, entries: (await readdir(join(dir, 'mail', 'mbox'))).sort() };
  }

  it('killed between creating ann.lock and writing its owner: the next relay delivers at once', async () => {
    const { entries } = await scenario((mbox) => `${mbox}.lock`);
    assert.deepEqual(entries, ['ann'], 'no lock and no owner file left');
  });

  it('killed while holding ann.lock (appending): the lock names a gone owner and is broken at once', async () => {
    const { entries } = await scenario((mbox) => mbox);
    // the owner file beside the lock was removed once linked; a leftover lock is gone with the break
    assert.deepEqual(entries, ['ann']);
  });
});
