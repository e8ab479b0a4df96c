// The ops port and the session limits that only show over time: idle timeout and the command cap.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, RawSmtp, startTestRelay, tempDir } from '../../test/harness.ts';

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
});
