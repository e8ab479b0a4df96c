// The launcher's entry (JavaScript, so that loading it needs no type stripping): turns on Node's compile
// cache, then runs the CLI. The cache keeps every module's type-stripped source and bytecode; a start that
// finds them never loads the TypeScript stripper (a WebAssembly module) nor recompiles: about 20 MB less
// resident memory for the relay's whole life and half the start-up CPU (bench/RESULTS.md). Only in a
// directory of our own, mode 0700 and not a symlink: whoever can write the cache chooses the code we run.
// KUBEMTA_COMPILE_CACHE=DIR picks the directory (default $TMPDIR or /tmp, per uid), =off disables it.
//
// A pod's first start finds the cache empty (a fresh emptyDir), and one module stripped in this process
// keeps the stripper loaded for good; so for the long-running commands (relay, operator), when these
// sources were not cached yet, a short-lived child loads that command's modules first (~0.5 s of CPU,
// once), and this process then finds every module cached.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { enableCompileCache, flushCompileCache, getCompileCacheDir } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WARMING = 'KUBEMTA_COMPILE_CACHE_WARMING';
const APP = dirname(dirname(fileURLToPath(import.meta.url)));

/** The TypeScript sources as they are now: path, size and modification time of each (a few ms). */
function fingerprint() {
  const h = createHash('sha256').update(APP);
  for (const top of ['cli', 'relay', 'operator']) {
    for (const rel of readdirSync(join(APP, top), { recursive: true }).sort()) {
      if (!String(rel).endsWith('.ts')) continue;
      const st = statSync(join(APP, top, String(rel)));
      h.update(`${top}/${rel}\0${st.size}\0${st.mtimeMs}\0`);
    }
  }
  return h.digest('hex').slice(0, 16);
}
/** The long-running commands, and the module each loads. */
const WARM = { relay: '../cli/relay.ts', operator: '../cli/operator.ts' };
const command = process.argv[2];
const choice = process.env.KUBEMTA_COMPILE_CACHE;
if (choice !== 'off' && !process.env.NODE_COMPILE_CACHE && !process.env.NODE_DISABLE_COMPILE_CACHE) {
  const dir = choice || join(tmpdir(), `kubemta-compile-cache-${process.getuid?.() ?? 0}`);
  try {
    mkdirSync(dir, { mode: 0o700, recursive: true });
    const st = lstatSync(dir);
    if (st.isDirectory() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0) enableCompileCache(dir);
  } catch {
    // no cache: the relay runs the same, only larger
  }
  // whether this code was cached yet, in the cache's directory for this node version and these V8 flags:
  // a marker named by the sources' paths, sizes and times (the directory may hold other checkouts' entries)
  const versioned = getCompileCacheDir();
  if (versioned && !process.env[WARMING] && Object.hasOwn(WARM, command)) {
    try {
      const marker = join(versioned, `kubemta-${fingerprint()}`);
      if (!existsSync(marker)) {
        const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), command], { env: { ...process.env, [WARMING]: '1' }, stdio: 'ignore', timeout: 60_000 });
        if (r.status === 0) writeFileSync(marker, '', { mode: 0o600 });
      }
    } catch {
      // not warmed: this process strips what is not cached, as without the warm-up
    }
  }
}
if (process.env[WARMING]) {
  // the child: compile the command's modules, then cli/main.ts, which answers `help` (silenced) and exits;
  // the cache is written on the way out
  process.on('exit', () => flushCompileCache());
  await import(WARM[command]);
  process.argv[2] = 'help';
  process.stdout.write = () => true;
}
await import('../cli/main.ts');
