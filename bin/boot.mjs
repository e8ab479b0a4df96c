// The launcher's entry (JavaScript, so that loading it needs no type stripping): turns on Node's compile
// cache, then runs the CLI. The cache keeps every module's type-stripped source and bytecode; a start that
// finds them never loads the TypeScript stripper (a WebAssembly module) nor recompiles: about 20 MB less
// resident memory for the relay's whole life and a faster start (bench/RESULTS.md). Only in a directory
// of our own, mode 0700 and not a symlink: whoever can write the cache chooses the code we run.
// KUBEMTA_COMPILE_CACHE=DIR picks the directory (default $TMPDIR or /tmp, per uid), =off disables it.
import { lstatSync, mkdirSync } from 'node:fs';
import { enableCompileCache } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
}
await import('../cli/main.ts');
