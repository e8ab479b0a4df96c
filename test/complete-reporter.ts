// A node:test reporter that fails the run when it did not see every verdict, so a tier can never pass
// while running fewer tests than it has. Each test file runs in a child process that streams its events
// to the runner and ends with its own summary (`test:summary` with the file). Two ways a run has lost
// tests without failing (both seen here, Node 24):
//   - a file's stream ended early: `--test-force-exit` makes the child call process.exit() while its last
//     reports still wait in the non-blocking pipe to the runner (nodejs/node#64833), and the runner takes
//     the truncated stream and exit code 0 as a pass. The file's own summary is the last thing it writes,
//     so a file without it, or whose verdicts do not add up to it, has lost some.
//   - a file's process outlives its tests (a server, socket, timer or child process an after hook did not
//     close): without --test-force-exit the run waits for it forever. Once a file's top-level tests have
//     all completed and its process is still there LINGER seconds later, the file is named and stopped.
// The tiers run it beside the spec reporter:
//   --test-reporter=spec --test-reporter-destination=stdout
//   --test-reporter=./test/complete-reporter.ts --test-reporter-destination=stderr
// KUBEMTA_TEST_LINGER_S sets the grace (default 30 s; after hooks that run at file level count in it).
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { TestEvent } from 'node:test/reporters';

const lingerMs = Number(process.env.KUBEMTA_TEST_LINGER_S ?? 30) * 1000;

interface FileVerdicts {
  /** top-level tests the file's process announced, and how many of them completed */
  announced: number;
  completed: number;
  /** pass/fail verdicts of tests (not suites) that reached the runner */
  verdicts: number;
  /** the tests the file's own summary counts, once it arrived */
  summarised?: number;
  /** its process exited (the runner completed the file) */
  exited: boolean;
  lingered: boolean;
  watchdog?: NodeJS.Timeout;
}

/** The file an event belongs to, and whether it came from the file's own process (not the runner). */
function origin(data: unknown): { file?: string; fromFile: boolean } {
  const d = data as { file?: string; entryFile?: string } | undefined;
  // the runner stamps entryFile on every event a file's process sent; its own events for the file lack it
  return { file: d?.entryFile ?? d?.file, fromFile: d?.entryFile !== undefined };
}

/** The runner's child process that runs `file` (Linux /proc), if it is still there. */
function fileProcess(file: string): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) !== process.pid) continue;
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (args.length && resolve(args[args.length - 1]) === file) return Number(entry);
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return undefined;
}

export default async function* completeReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const files = new Map<string, FileVerdicts>();
  const of = (file: string) => files.get(file) ?? files.set(file, { announced: 0, completed: 0, verdicts: 0, exited: false, lingered: false }).get(file)!;
  const lingering: string[] = [];

  const watch = (file: string, f: FileVerdicts) => {
    clearTimeout(f.watchdog);
    f.watchdog = undefined;
    if (f.exited || f.announced === 0 || f.completed < f.announced) return;
    f.watchdog = setTimeout(() => {
      if (f.exited) return;
      f.lingered = true;
      lingering.push(file);
      const pid = fileProcess(file);
      process.stderr.write(`\ntest: ${file} finished its tests ${lingerMs / 1000} s ago but its process${pid ? ` (${pid})` : ''} is still running: something keeps its event loop alive (a server, socket, timer or child process an after hook did not close); stopping it\n`);
      if (pid) process.kill(pid, 'SIGKILL');
      process.exitCode = 1;
    }, lingerMs);
    f.watchdog.unref();
  };

  for await (const event of source) {
    const { file, fromFile } = origin(event.data);
    if (!file) continue;
    switch (event.type) {
      case 'test:enqueue': {
        const f = of(file);
        if (fromFile && event.data.nesting === 0) {
          f.announced++;
          watch(file, f);
        }
        break;
      }
      case 'test:complete': {
        if (event.data.nesting !== 0) break;
        const f = of(file);
        // a top-level test of the file completed, or (from the runner) the file's process exited
        if (fromFile) f.completed++;
        else f.exited = true;
        watch(file, f);
        break;
      }
      case 'test:pass':
      case 'test:fail':
        if (fromFile && event.data.details.type !== 'suite') of(file).verdicts++;
        break;
      case 'test:summary':
        // the run's own summary has no file; a file's summary comes from its process
        if (fromFile) of(file).summarised = event.data.counts.tests;
        break;
    }
  }

  const incomplete: string[] = [];
  for (const [file, f] of files) {
    clearTimeout(f.watchdog);
    if (f.lingered) continue;
    // a file without tests sends nothing of its own either (the runner then reports the file as one
    // passing test): in a tier, a test file that declares no test is as wrong as one that lost its report
    if (f.summarised === undefined) incomplete.push(f.announced === 0 && f.verdicts === 0 ? `${file}: sent no report of its own (it declares no test, or its process ended before its first report)` : `${file}: its process ended without its summary (${f.verdicts} verdicts arrived): the rest of its report was lost`);
    else if (f.summarised !== f.verdicts) incomplete.push(`${file}: ${f.verdicts} verdicts arrived of the ${f.summarised} tests its summary counts`);
  }
  const tests = [...files.values()].reduce((n, f) => n + f.verdicts, 0);
  if (incomplete.length || lingering.length) {
    process.exitCode = 1;
    yield `test: INCOMPLETE RUN (${tests} verdicts from ${files.size} files):\n` +
      [...incomplete, ...lingering.map((f) => `${f}: its process outlived its tests and was stopped`)].map((l) => `  - ${l}\n`).join('');
  } else {
    yield `test: every verdict arrived: ${tests} tests from ${files.size} files, each file's count matching its own summary\n`;
  }
}
