// The ops port and the session limits that only show over time: idle timeout and the command cap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, RawSmtp, startTestRelay, swaks, tempDir } from '../../test/harness.ts';

describe('relay/ops http and session limits', () => {
  it('serves /healthz, /readyz and Prometheus /metrics, and /readyz turns 503 while shutting down', async () => {
    const { dir, cleanup } = await tempDir();
    const t = await startTestRelay(dir, baseConfig({ limits: { idleTimeoutSeconds: 0.5, maxCommands: 5 } }));
    const base = `http://127.0.0.1:${t.relay.httpPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    assert.equal((await fetch(`${base}/readyz`)).status, 200);
    const c = await RawSmtp.open(t.port('plain'));
    await c.command('EHLO x');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /kubemta_connections_total\{listener="plain"\} 1/);
    assert.match(metrics, /kubemta_queue_messages 0/);
    // the command cap: the 6th command of a session is refused and the session closed
    for (let i = 0; i < 4; i++) assert.match(await c.command('NOOP'), /^250/);
    assert.match(await c.command('NOOP'), /^421 4\.7\.0 Too many commands/);
    // idle timeout: a silent session is closed by the relay
    const idle = await RawSmtp.open(t.port('plain'));
    assert.match(await idle.reply(3000), /^421 /);
    t.relay.relay.draining = true;
    assert.equal((await fetch(`${base}/readyz`)).status, 503);
    t.relay.relay.draining = false;
    await t.relay.stop();
    await cleanup();
  });

  it('reports the queue\'s size and the age of its oldest mail on /metrics (the autoscaling signals), from the queue\'s index', async () => {
    const { dir, cleanup } = await tempDir();
    // relayed mail is deferred (the test resolver answers nothing), so it stays queued
    const t = await startTestRelay(dir, baseConfig({ actions: { relay: { type: 'relay' } }, rules: [{ name: 'lan', from: { networks: ['127.0.0.0/8'] }, for: 'any', action: 'relay' }] }));
    try {
      const base = `http://127.0.0.1:${t.relay.httpPort}`;
      const gauge = async (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(await (await fetch(`${base}/metrics`)).text())?.[1]);
      assert.equal(await gauge('kubemta_queue_messages'), 0);
      assert.equal(await gauge('kubemta_queue_oldest_age_seconds'), 0);
      const sent = Date.now();
      for (let i = 0; i < 3; i++) {
        const r = await swaks(t.port('plain'), ['--from', 'a@example.org', '--to', `b${i}@example.net`]);
        assert.equal(r.code, 0, r.transcript);
      }
      assert.equal(await gauge('kubemta_queue_messages'), 3);
      const age = await gauge('kubemta_queue_oldest_age_seconds');
      assert.ok(age > 0 && age <= (Date.now() - sent) / 1000 + 0.01, `oldest age ${age}`);
    } finally {
      await t.relay.stop();
      await cleanup();
    }
  });
});
