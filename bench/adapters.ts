// Starting an MTA through a ../shared/bench adapter (the contract in its README: `start LISTEN SINK WORKDIR`
// writes WORKDIR/mta.pid, `stop WORKDIR`) with a Postfix smtp-sink as the next hop, for the scenarios
// that run outside the shared harness (bench/latency.ts, bench/idle-sessions.ts).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
/** The shared harness (its adapters for other MTAs): SHARED_BENCH, or ../shared/bench beside this checkout or its parent. */
export const SHARED_BENCH = process.env.SHARED_BENCH ?? [resolve(here, '../../shared/bench'), resolve(here, '../../../shared/bench')].find((d) => existsSync(join(d, 'mta'))) ?? resolve(here, '../../shared/bench');

/** `kubemta` (this repository's adapter), a built-in of the shared harness (`postfix`), or a path. */
export function adapterPath(name: string): string {
  if (name === 'kubemta') return join(here, 'kubemta-adapter.sh');
  return name.includes('/') ? resolve(name) : join(SHARED_BENCH, 'mta', `${name}.sh`);
}

export function adapterLabel(name: string): string {
  let version = name;
  try {
    version = execFileSync(adapterPath(name), ['version'], { encoding: 'utf8' }).trim() || name;
  } catch {
    // no version line: the name says it
  }
  // an adapter given by path is named by its directory, as the shared harness names it
  return name.includes('/') ? `${basename(dirname(resolve(name)))}: ${version}` : version;
}

export interface RunningMta {
  pid: number;
  workdir: string;
  stop(): Promise<void>;
}

/**
 * Starts the sink and the MTA (env: extra variables for the adapter, e.g. KUBEMTA_EXTRA). Profiling: the
 * MTA (not this client) gets MTA_NODE_OPTIONS as NODE_OPTIONS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`),
 * and KEEP_WORKDIR=1 keeps its work directory (config, log) after the run.
 */
export async function startMta(name: string, o: { listen: number; sink: number; workroot: string; env?: Record<string, string> }): Promise<RunningMta> {
  const workdir = join(o.workroot, `${basename(name).replace(/\.sh$/, '')}-${process.pid}-${Date.now()}`);
  rmSync(workdir, { recursive: true, force: true });
  mkdirSync(workdir, { recursive: true });
  const sink: ChildProcess = spawn('smtp-sink', ['-u', 'nobody', `127.0.0.1:${o.sink}`, '1024'], { stdio: 'ignore' });
  const adapter = adapterPath(name);
  try {
    execFileSync(adapter, ['start', String(o.listen), String(o.sink), workdir], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, ...(process.env.MTA_NODE_OPTIONS ? { NODE_OPTIONS: process.env.MTA_NODE_OPTIONS } : {}), ...o.env } });
  } catch (err) {
    sink.kill();
    throw err;
  }
  const pid = Number(readFileSync(join(workdir, 'mta.pid'), 'utf8').trim());
  return {
    pid,
    workdir,
    async stop() {
      execFileSync(adapter, ['stop', workdir], { stdio: 'ignore' });
      sink.kill();
      await new Promise((r) => (sink.exitCode === null ? sink.once('exit', r) : r(null)));
      if (process.env.KEEP_WORKDIR !== '1') rmSync(workdir, { recursive: true, force: true });
      else process.stderr.write(`kept ${workdir}\n`);
    },
  };
}

