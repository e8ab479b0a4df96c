// The tiers' completeness guard (test/complete-reporter.ts) on real `node --test` runs of small fixture
// files: a complete run passes and says how many verdicts arrived; a file whose report ends early, a file
// without tests and a file whose process outlives its tests each fail the run, named.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from './harness.ts';

const REPORTER = new URL('./complete-reporter.ts', import.meta.url).pathname;
const fixture = (name: string) => new URL(`./fixtures/complete-reporter/${name}.ts`, import.meta.url).pathname;

/** `node --test` on fixture files, with the spec reporter on stdout and the guard on stderr, as the tiers run it. */
function nodeTest(files: string[], guard = true) {
  const reporters = guard ? ['--test-reporter=spec', '--test-reporter-destination=stdout', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stderr'] : ['--test-reporter=spec'];
  // without NODE_TEST_CONTEXT, which marks this file's own process as a child of the runner
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  return run(process.execPath, ['--disable-warning=ExperimentalWarning', '--test', '--test-concurrency=2', ...reporters, ...files], {
    env: { ...env, KUBEMTA_TEST_LINGER_S: '1' },
    timeoutMs: 60_000,
  });
}

describe('test/complete-reporter', () => {
  it('passes a run whose every verdict arrived, and says how many', async () => {
    const r = await nodeTest([fixture('complete')]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /every verdict arrived: 4 tests from 1 files/);
  });

  it('fails a run in which a file\'s process ended before its summary, naming the file (the runner alone calls it a pass)', async () => {
    const bare = await nodeTest([fixture('ends-early')], false);
    assert.equal(bare.code, 0, 'without the guard, node --test passes the truncated file');
    const r = await nodeTest([fixture('complete'), fixture('ends-early')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /INCOMPLETE RUN/);
    assert.match(r.stderr, /ends-early\.ts: its process ended without its summary \(1 verdicts arrived\)/);
    assert.doesNotMatch(r.stderr, /complete\.ts:/, 'the complete file is not blamed');
  });

  it('fails a run with a test file that declares no test', async () => {
    const r = await nodeTest([fixture('no-tests')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /no-tests\.ts: sent no report of its own/);
  });

  it('names and stops a file whose process outlives its tests, instead of waiting for it forever', async () => {
    const started = Date.now();
    const r = await nodeTest([fixture('lingers'), fixture('complete')]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const named = /lingers\.ts finished its tests 1 s ago but its process \((\d+)\) is still running/.exec(r.stderr);
    assert.ok(named, r.stderr);
    assert.match(r.stderr, /lingers\.ts: its process outlived its tests and was stopped/);
    assert.throws(() => process.kill(Number(named[1]), 0), { code: 'ESRCH' }, 'the lingering process is gone');
    assert.ok(Date.now() - started < 30_000, `took ${Date.now() - started} ms`);
  });
});
