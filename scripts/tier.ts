// Runs one tier of `npm test` under a deadline, in a process group of its own: when the deadline passes
// the whole group gets SIGTERM, then SIGKILL, and the tier fails naming itself, so a hang becomes a
// failure with a name instead of a run that never returns. When the tier ends, anything it left running
// in its group (a relay a failed test did not stop) is killed too. Processes that detach on purpose
// (the local cluster's, started with setsid) are not in the group and are left alone.
//
//   node scripts/tier.ts NAME SECONDS COMMAND [ARG...]
import { spawn } from 'node:child_process';

const [name, seconds, cmd, ...args] = process.argv.slice(2);
if (!name || !Number(seconds) || !cmd) {
  process.stderr.write('usage: node scripts/tier.ts NAME SECONDS COMMAND [ARG...]\n');
  process.exit(2);
}

const started = Date.now();
const child = spawn(cmd, args, { detached: true, stdio: 'inherit' });
const group = (signal: NodeJS.Signals) => {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
};
let timedOut = false;
const deadline = setTimeout(() => {
  timedOut = true;
  process.stderr.write(`\ntest: tier "${name}" passed its deadline of ${seconds} s: stopping it (the test runner's output above names the test it was in)\n`);
  group('SIGTERM');
  setTimeout(() => group('SIGKILL'), 10_000).unref();
}, Number(seconds) * 1000);
for (const s of ['SIGINT', 'SIGTERM'] as const) process.on(s, () => group(s));

child.on('exit', (code, signal) => {
  clearTimeout(deadline);
  group('SIGKILL');
  const secs = Math.round((Date.now() - started) / 1000);
  const ok = code === 0 && !timedOut;
  process.stderr.write(`test: tier "${name}" ${ok ? 'passed' : timedOut ? 'timed out' : `failed (${signal ?? `exit ${code}`})`} in ${secs} s\n`);
  process.exit(ok ? 0 : timedOut ? 124 : (code ?? 1) || 1);
});
