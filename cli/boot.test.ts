// bin/boot.mjs, the launcher's entry: the compile cache it keeps, and where it refuses to keep one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, stat, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, KUBEMTA, killChild, run, spawnRelay, tempDir, writeConfig } from '../test/harness.ts';

/** Files under the cache directory (one subdirectory per node version and V8 flags). */
async function cached(dir: string): Promise<number> {
  let n = 0;
  for (const sub of await readdir(dir).catch(() => [] as string[])) n += (await readdir(join(dir, sub)).catch(() => [] as string[])).length;
  return n;
}

describe('bin/boot.mjs: compile cache', () => {
  it('a relay starting on an empty cache fills it first (0700, every module the relay loads) and serves', async () => {
    const { dir, cleanup } = await tempDir();
    const saved = process.env.KUBEMTA_COMPILE_CACHE;
    const cache = join(dir, 'cc');
    process.env.KUBEMTA_COMPILE_CACHE = cache;
    let child;
    try {
      const file = await writeConfig(dir, baseConfig({ log: { level: 'info' } }));
      const relay = await spawnRelay(file);
      child = relay.child;
      assert.ok(Object.keys(relay.ports).length > 0, 'the relay listens');
      assert.equal((await stat(cache)).mode & 0o777, 0o700);
      // the relay's modules and its dependencies' (TypeScript and JavaScript): hundreds of entries
      assert.ok((await cached(cache)) > 200, `cache filled (${await cached(cache)} entries)`);
    } finally {
      await killChild(child);
      if (saved === undefined) delete process.env.KUBEMTA_COMPILE_CACHE;
      else process.env.KUBEMTA_COMPILE_CACHE = saved;
      await cleanup();
    }
  });

  it('keeps no cache in a directory others can write, nor through a symlink, and runs the same', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const open = join(dir, 'open');
      await mkdir(open);
      await chmod(open, 0o777);
      const target = join(dir, 'target');
      await mkdir(target, { mode: 0o700 });
      const link = join(dir, 'link');
      await symlink(target, link);
      for (const cache of [open, link]) {
        const r = await run(KUBEMTA, ['--help'], { env: { ...process.env, KUBEMTA_COMPILE_CACHE: cache } });
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /usage: kubemta/);
        assert.equal(await cached(cache), 0, `nothing written to ${cache}`);
      }
    } finally {
      await cleanup();
    }
  });
});
