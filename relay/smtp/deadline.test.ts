// Slow and greedy clients through raw TCP sockets: a command or a DATA phase trickled in byte by byte is
// cut off at its deadline (the idle timeout alone restarts on every byte), and sessions are capped in
// total across listeners and per client address — each with 421 4.7.0, counted in /metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, RawSmtp, startTestRelay, tempDir } from '../../test/harness.ts';
import { until } from '../../test/until.ts';

/** Sends `bytes` one write at a time, `everyMs` apart (the client's behaviour under test), until closed. */
async function trickle(c: RawSmtp, bytes: string, everyMs: number): Promise<void> {
  for (const b of bytes) {
    if (c.closed) return;
    c.send(b);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe('deadlines and session caps', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let t: Awaited<ReturnType<typeof startTestRelay>>;
  const refusals = async (reason: string) => (await t.relay.relay.metrics.refused.get()).values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  const open = (listener: string, from?: string) => RawSmtp.open(t.port(listener), from);

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    t = await startTestRelay(
      dir,
      baseConfig({
        listeners: [
          { name: 'a', address: '127.0.0.1', port: 0 },
          { name: 'b', address: '127.0.0.1', port: 0 },
        ],
        tables: { v: { type: 'virtual', entries: { 'ann@example.test': 'ann' } } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
        // the idle timeout is far off: only the new deadlines can end these sessions in time
        limits: { idleTimeoutSeconds: 60, commandTimeoutSeconds: 1, dataMinBytesPerSecond: 1000, maxConnections: 6, maxConnectionsPerClient: 3 },
      }),
    );
  });
  after(async () => {
    await t.relay.stop();
    await cleanup();
  });

  it('a command trickled a byte every 200 ms is cut off at the command deadline (421 4.7.0)', async () => {
    const c = await open('a');
    const started = Date.now();
    const sending = trickle(c, 'EHLO trickle.example.org\r\n', 200);
    const reply = await c.reply(4000);
    await sending;
    assert.match(reply, /^421 4\.7\.0 Command not completed in time/);
    assert.ok(Date.now() - started < 2500, `cut off after ${Date.now() - started} ms`);
    await until('session closed', () => c.closed, 2000);
    assert.ok((await refusals('command-timeout')) >= 1);
  });

  it('complete commands keep a session past the command deadline (it is per command, not per session)', async () => {
    const c = await open('a');
    try {
      const until2s = Date.now() + 2000;
      while (Date.now() < until2s) {
        assert.match(await c.command('NOOP'), /^250 /);
        await new Promise((r) => setTimeout(r, 300));
      }
      assert.equal(c.closed, false);
    } finally {
      c.end();
    }
  });

  it('DATA trickled below the rate floor is cut off (421 4.7.0), nothing left in incoming/; a fast large DATA passes', async () => {
    const c = await open('a');
    await c.command('EHLO slow.example.org');
    await c.command('MAIL FROM:<s@elsewhere.test>');
    assert.match(await c.command('RCPT TO:<ann@example.test>'), /^250 /);
    assert.match(await c.command('DATA'), /^354 /);
    const started = Date.now();
    const sending = trickle(c, 'Subject: slow\r\n\r\n' + 'x'.repeat(200), 100);
    const reply = await c.reply(5000);
    await sending;
    assert.match(reply, /^421 4\.7\.0 DATA arriving too slowly/);
    assert.ok(Date.now() - started < 3000, `cut off after ${Date.now() - started} ms`);
    await until('incoming/ empty', async () => (await readdir(join(dir, 'queue', 'incoming'))).length === 0, 2000);
    assert.ok((await refusals('data-slow')) >= 1);

    const f = await open('a');
    await f.command('EHLO fast.example.org');
    await f.command('MAIL FROM:<s@elsewhere.test>');
    await f.command('RCPT TO:<ann@example.test>');
    assert.match(await f.command('DATA'), /^354 /);
    assert.match(await f.command('Subject: fast\r\n\r\n' + ('y'.repeat(998) + '\r\n').repeat(2000) + '.'), /^250 2\.0\.0 /);
    f.end();
  });

  it('caps sessions in total across listeners (421 4.7.0), and frees the slot when one closes', async () => {
    const held: RawSmtp[] = [];
    try {
      // 6 in total, from two addresses (3 each, the per-client cap), spread over both listeners
      for (const [listener, from] of [['a', '127.0.0.1'], ['b', '127.0.0.1'], ['a', '127.0.0.1'], ['b', '127.0.0.2'], ['a', '127.0.0.2'], ['b', '127.0.0.2']]) {
        held.push(await open(listener, from));
      }
      const before = await refusals('connections');
      const extra = await open('b', '127.0.0.3');
      // the greeting itself is the refusal
      assert.match(extra.greeting, /^421 4\.7\.0 Too many connections/);
      extra.end();
      assert.equal(await refusals('connections'), before + 1);
      held.pop()!.end();
      await until('the session count to drop', () => t.relay.relay.sessions === 5, 2000);
      const next = await open('b', '127.0.0.3');
      held.push(next);
      assert.match(await next.command('NOOP'), /^250 /);
    } finally {
      for (const c of held) c.end();
    }
  });

  it('caps concurrent sessions per client address across listeners (421 4.7.0)', async () => {
    await until('earlier sessions closed', () => t.relay.relay.sessions === 0, 2000);
    const held = [await open('a', '127.0.0.4'), await open('b', '127.0.0.4'), await open('a', '127.0.0.4')];
    try {
      const before = await refusals('client-connections');
      const extra = await open('b', '127.0.0.4');
      assert.match(extra.greeting, /^421 4\.7\.0 Too many connections from your address/);
      extra.end();
      assert.equal(await refusals('client-connections'), before + 1);
      const other = await open('b', '127.0.0.5');
      held.push(other);
    } finally {
      for (const c of held) c.end();
    }
  });
});
