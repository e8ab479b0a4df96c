// A private rspamd for tests: its own config directory (no system config, no modules that need redis or
// the network), one normal worker on a free loopback port, and a few Lua rules keyed on the Subject so a
// test can ask for each verdict: REJECTME (reject), SOFTME (soft reject), HEADERME (add header, plus a
// header of its own through the milter reply), SUBJECTME (rewrite subject). Stopped (and its directory
// removed) by close().
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exited } from './harness.ts';
import { freePort } from './postfix.ts';
import { until } from './until.ts';

export interface TestRspamd {
  url: string;
  /** What rspamd logged, for a failing test's message. */
  log(): Promise<string>;
  close(): Promise<void>;
}

const RULES = `
local function subject_has(word)
  return function(task)
    local s = task:get_header('Subject') or ''
    return s:find(word, 1, true) ~= nil
  end
end
rspamd_config.KUBEMTA_TEST_REJECT = { callback = subject_has('REJECTME'), score = 20.0, description = 'test: reject' }
rspamd_config.KUBEMTA_TEST_SUBJECT = { callback = subject_has('SUBJECTME'), score = 9.0, description = 'test: rewrite subject' }
rspamd_config.KUBEMTA_TEST_HEADER = {
  callback = function(task)
    if not subject_has('HEADERME')(task) then return false end
    task:set_milter_reply({ add_headers = { ['X-Test-Filter'] = 'seen ' .. (task:get_queue_id() or '?') .. ' ' .. tostring(task:get_from('smtp')[1].addr) .. ' ' .. (task:get_user() or '-') } })
    return true
  end,
  score = 6.0,
  description = 'test: add header',
}
rspamd_config.KUBEMTA_TEST_SOFT = {
  callback = function(task)
    if not subject_has('SOFTME')(task) then return false end
    task:set_pre_result('soft reject', 'try again later, says the test')
    return true
  end,
  score = 0.0,
  description = 'test: soft reject',
}
`;

/** `address`: where rspamd listens (loopback by default; the e2e tier uses the host's pod-network address). */
export async function startRspamd(opts: { address?: string } = {}): Promise<TestRspamd> {
  const address = opts.address ?? '127.0.0.1';
  const dir = await mkdtemp(join(tmpdir(), 'kubemta-rspamd-'));
  const port = await freePort();
  await writeFile(join(dir, 'rules.lua'), RULES);
  await writeFile(
    join(dir, 'rspamd.conf'),
    `lua = "${dir}/rules.lua";
options {
  pidfile = "${dir}/rspamd.pid";
  dbdir = "${dir}";
  # nothing leaves the machine: a resolver on loopback where nothing answers
  dns { nameserver = ["127.0.0.1:9"]; timeout = 0.2s; retransmits = 1; }
}
logging { type = "file"; filename = "${dir}/rspamd.log"; level = "info"; }
worker "normal" { bind_socket = "${address}:${port}"; count = 1; task_timeout = 8s; }
actions { reject = 15; rewrite_subject = 8; add_header = 5; subject = "[SPAM] %s"; }
`,
  );
  const child: ChildProcess = spawn('rspamd', ['-f', '-i', '-u', 'root', '-g', 'root', '-c', join(dir, 'rspamd.conf')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  const url = `http://${address}:${port}`;
  const log = async () => output + (await readFile(join(dir, 'rspamd.log'), 'utf8').catch(() => ''));
  const close = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      // a cleared grace timer: a pending one kept the test file's process alive 5 s after its tests
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([exited(child), new Promise((r) => (grace = setTimeout(r, 5000)))]);
      clearTimeout(grace);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await until(
      'rspamd to answer /ping',
      async () => {
        if (child.exitCode !== null) throw new Error(`rspamd exited ${child.exitCode}: ${await log()}`);
        const r = await fetch(`${url}/ping`).catch(() => undefined);
        return r?.ok ? true : undefined;
      },
      30_000,
      100,
    );
  } catch (err) {
    await close();
    throw err;
  }
  return { url, log, close };
}
