// Retries over time: the queue lifetime ends in a 4.4.7 bounce (after one delay warning), and a deferred
// mail survives a relay restart and is delivered by the next process. These run the agent on the main
// thread (outbound.deliveryThread: false); agent.test.ts's TLS, AUTH and DKIM tests run it on its own thread.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../../main.ts';
import { createLogger } from '../../ops/log.ts';
import { baseConfig, startTestRelay, tempDir } from '../../../test/harness.ts';
import { startDns } from '../../../test/dns-server.ts';
import { startSink } from '../../../test/smtp-sink.ts';
import { injectMail } from '../../../test/inject.ts';
import { until } from '../../../test/until.ts';

function dsnField(raw: string, field: string): string[] {
  return [...raw.matchAll(new RegExp(`^${field}: (.*)$`, 'gim'))].map((m) => m[1].trim());
}

describe('relay/deliver/smtp: retries over time', () => {
  it('warns the sender once when delivery is delayed, then bounces with 4.4.7 when the queue lifetime ends', async () => {
    const { dir, cleanup } = await tempDir();
    const sink = await startSink({ rcpt: (a) => (a.endsWith('@slow.test') ? [451, '4.7.1 greylisted, come back later'] : undefined) });
    const dns = await startDns({ 'slow.test': { a: ['127.0.0.1'] }, 'sender.test': { a: ['127.0.0.1'] } });
    const t = await startTestRelay(dir, baseConfig({
      outbound: {
        resolver: { servers: [dns.server] },
        port: sink.port,
        retry: { minSeconds: 0.15, maxSeconds: 0.3, greylistSeconds: 0.15 },
        queueLifetimeSeconds: 1.2,
        delayWarningSeconds: 0.4,
        deliveryThread: false,
      },
    }));
    try {
      const id = await injectMail(t.relay, { from: 'alice@sender.test', to: ['bob@slow.test'] });
      await until('expiry', () => !t.relay.relay.queue.get(id), 6000);
      await until('two DSNs', () => sink.received.filter((m) => m.from === '').length >= 2, 3000);
      const dsns = sink.received.filter((m) => m.from === '').map((m) => m.data.toString());
      assert.equal(dsns.length, 2, 'one delay warning and one bounce, nothing more');
      const [warning, bounce] = dsns;
      assert.deepEqual(dsnField(warning, 'Action'), ['delayed']);
      assert.ok(dsnField(warning, 'Will-Retry-Until').length === 1);
      assert.deepEqual(dsnField(bounce, 'Action'), ['failed']);
      assert.deepEqual(dsnField(bounce, 'Status'), ['4.4.7']);
      assert.deepEqual(dsnField(bounce, 'Diagnostic-Code'), ['smtp; 451 4.7.1 greylisted, come back later']);
      assert.deepEqual(sink.received.filter((m) => m.from === '').flatMap((m) => m.to), ['alice@sender.test', 'alice@sender.test']);
    } finally {
      await t.relay.stop();
      await Promise.all([sink.close(), dns.close()]);
      await cleanup();
    }
  });

  it('keeps a deferred mail across a restart and delivers it from the new process', async () => {
    const { dir, cleanup } = await tempDir();
    let accept = false;
    const sink = await startSink({ rcpt: () => (accept ? undefined : [421, '4.3.2 service shutting down']) });
    const dns = await startDns({ 'example.net': { mx: [[5, 'mx.example.net']] }, 'mx.example.net': { a: ['127.0.0.1'] } });
    const outbound = { resolver: { servers: [dns.server] }, port: sink.port, retry: { minSeconds: 0.3, maxSeconds: 0.3 }, deliveryThread: false };
    const first = await startTestRelay(dir, baseConfig({ outbound }));
    let second: Awaited<ReturnType<typeof startRelay>> | undefined;
    try {
      const id = await injectMail(first.relay, { from: 'alice@sender.test', to: ['bob@example.net'] });
      await until('a deferral', () => (first.relay.relay.queue.get(id)?.state.recipients[0].attempts ?? 0) >= 1, 5000);
      await first.relay.stop();
      accept = true;
      second = await startRelay(first.file, { logger: createLogger('silent') });
      assert.ok(second.relay.queue.get(id), 'the mail is in the recovered queue');
      assert.ok(second.relay.queue.get(id)!.state.recipients[0].attempts >= 1, 'with its attempts');
      await until('delivery after restart', () => sink.received.length === 1, 5000);
      assert.deepEqual(sink.received[0].to, ['bob@example.net']);
      await until('removal', () => !second!.relay.queue.get(id), 2000);
    } finally {
      await first.relay.stop();
      await second?.stop();
      await Promise.all([sink.close(), dns.close()]);
      await cleanup();
    }
  });
});
