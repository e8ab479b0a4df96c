// RCPTs that resolve to one copy collapse into one delivery, and the queue keeps which RCPTs it stands for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, run, startTestRelay, swaks, tempDir, KUBEMTA } from '../../../test/harness.ts';

test('two RCPTs forwarded to one address: one copy queued, `kubemta queue ls` names both', async () => {
  const { dir, cleanup } = await tempDir();
  const t = await startTestRelay(
    dir,
    baseConfig({
      tables: { v: { type: 'virtual', entries: { 'a@x.test': 'out@far.test', 'b@x.test': 'out@far.test', 'c@x.test': 'other@far.test' } } },
      rules: [{ from: 'any', for: { domain: 'x.test' }, virtual: 'v', action: 'relay' }],
      actions: { relay: { type: 'relay' } },
    }),
  );
  try {
    const r = await swaks(t.port('plain'), ['--from', 's@outside.test', '--to', 'a@x.test,b@x.test,c@x.test,B@x.test']);
    assert.equal(r.code, 0, r.transcript);
    const [mail] = t.relay.relay.queue.list();
    assert.deepEqual(
      mail.envelope.recipients.map((x) => [x.rcpt, x.also, x.route.kind === 'relay' && x.route.address]),
      [
        ['a@x.test', ['b@x.test', 'B@x.test'], 'out@far.test'],
        ['c@x.test', undefined, 'other@far.test'],
      ],
    );
    const ls = await run(KUBEMTA, ['queue', 'ls', '--config', t.file]);
    assert.match(ls.stdout, /-> a@x\.test \(also b@x\.test, B@x\.test\) \[relay out@far\.test\]/, ls.stdout + ls.stderr);
  } finally {
    await t.relay.stop();
    await cleanup();
  }
});
