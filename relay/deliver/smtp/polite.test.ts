// The polite client through real interfaces: mail sent into the relay by a real SMTP client (Python's
// smtplib), delivered to Postfix's smtp-sink on loopback (test/postfix-sink.ts reads its -v log: every
// connect, command and disconnect in order), found by a DNS server on loopback; `kubemta queue` run as
// a user runs it. Greylisting needs a peer that remembers whom it refused, which smtp-sink cannot do: that
// test uses the smtp-server sink (test/smtp-sink.ts) with a greylist in its RCPT hook.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { baseConfig, KUBEMTA, python, run, startTestRelay, tempDir } from '../../../test/harness.ts';
import { startDns, type TestDns } from '../../../test/dns-server.ts';
import { SMTP_SINK, startPostfixSink, type PostfixSink } from '../../../test/postfix-sink.ts';
import { startSink } from '../../../test/smtp-sink.ts';
import { freePort } from '../../../test/postfix.ts';
import { until } from '../../../test/until.ts';

const skip = existsSync(SMTP_SINK) ? false : `Postfix's smtp-sink is not installed (${SMTP_SINK}); npm test installs postfix`;

/** Sends each mail in one SMTP session to the relay's plain listener, as a client would. */
async function sendAll(port: number, mails: { from: string; to: string[] }[]): Promise<void> {
  const script = `
import json, smtplib, sys
mails = json.loads(sys.argv[2])
with smtplib.SMTP('127.0.0.1', int(sys.argv[1]), timeout=30) as s:
    for i, m in enumerate(mails):
        body = 'From: <%s>\\r\\nTo: %s\\r\\nSubject: polite %d\\r\\n\\r\\nHello %d.\\r\\n' % (m['from'], ', '.join(m['to']), i, i)
        s.sendmail(m['from'], m['to'], body)
`;
  const r = await python(script, [String(port), JSON.stringify(mails)]);
  assert.equal(r.code, 0, r.stderr);
}

/** A relay that relays whatever loopback clients send, to MX hosts on `port` found through `dns`. */
function relayConfig(dns: TestDns, port: number, outbound: Record<string, unknown>): Record<string, unknown> {
  return baseConfig({
    actions: { relay: { type: 'relay' } },
    rules: [{ from: 'local', for: 'any', action: 'relay' }],
    outbound: { resolver: { servers: [dns.server], timeoutSeconds: 1 }, port, family: 'inet4', tls: 'none', ...outbound },
  });
}

/** Peers (`keep` each as it starts), a DNS server and a relay for `body`; all stopped afterwards, whatever failed. */
async function withRelay(
  zone: Parameters<typeof startDns>[0],
  sinks: (port: number, keep: <P extends { close(): Promise<void> }>(peer: P) => P) => Promise<unknown>,
  outbound: Record<string, unknown>,
  body: (t: Awaited<ReturnType<typeof startTestRelay>>, port: number) => Promise<void>,
): Promise<void> {
  const { dir, cleanup } = await tempDir();
  const stops: (() => Promise<void>)[] = [cleanup];
  try {
    const port = await freePort();
    await sinks(port, (peer) => (stops.unshift(() => peer.close()), peer));
    const dns = await startDns(zone);
    stops.unshift(() => dns.close());
    const t = await startTestRelay(dir, relayConfig(dns, port, outbound));
    stops.unshift(() => t.relay.stop());
    await body(t, port);
  } finally {
    for (const stop of stops) await stop();
  }
}

const mailsTo = (n: number, domain: string) => Array.from({ length: n }, (_, i) => ({ from: 'alice@sender.test', to: [`u${i}@${domain}`] }));

describe('relay/deliver/smtp: a polite client', { skip }, () => {
  it('opens no more than perDestination connections to one destination, starting at initialPerDestination, while 24 mails wait for a slow peer', async (ctx) => {
    let sink!: PostfixSink;
    await withRelay(
      { 'many.test': { mx: [[10, 'mx.many.test']] }, 'mx.many.test': { a: ['127.0.0.1'] } },
      // a peer that takes a second per DATA: mail piles up however fast the relay is, so the window must open
      async (port, keep) => (sink = keep(await startPostfixSink({ port, dataDelaySeconds: 1 }))),
      { concurrency: { perDestination: 4, initialPerDestination: 2 } },
      async (t, _port) => {
        await sendAll(t.port('plain'), mailsTo(24, 'many.test'));
        await until('24 mails at the peer', () => sink.messages() === 24, 60_000);
        const firstDone = sink.events.find((e) => e.line === '.')!.at;
        assert.ok(sink.maxConcurrent(firstDone) <= 2, `before the first delivery: ${sink.maxConcurrent(firstDone)} sessions open, initialPerDestination is 2`);
        assert.equal(sink.maxConcurrent(), 4, 'the window opened to perDestination and no further');
        ctx.diagnostic(`sessions open at most: ${sink.maxConcurrent(firstDone)} before the first delivery, ${sink.maxConcurrent()} in all; ${sink.sessions().length} sessions for 24 mails`);
      },
    );
  });

  it('closes a connection after maxMessagesPerConnection transactions and opens a fresh one', async () => {
    let sink!: PostfixSink;
    await withRelay(
      { 'reuse.test': { mx: [[10, 'mx.reuse.test']] }, 'mx.reuse.test': { a: ['127.0.0.1'] } },
      async (port, keep) => (sink = keep(await startPostfixSink({ port }))),
      // one connection at a time: the peer's log then says exactly which mail went over which session
      { concurrency: { perDestination: 1 }, maxMessagesPerConnection: 7, idleSeconds: 0.5 },
      async (t) => {
        await sendAll(t.port('plain'), mailsTo(30, 'reuse.test'));
        await until('30 mails at the peer', () => sink.messages() === 30, 20_000);
        await until('the last session to end', () => sink.sessions().every((s) => s.closedAt), 10_000);
        assert.equal(sink.maxConcurrent(), 1);
        assert.deepEqual(sink.sessions().map((s) => s.messages), [7, 7, 7, 7, 2]);
      },
    );
  });

  it('after a 421 opens no connection to that destination until the pause ends, delivers elsewhere meanwhile, and kubemta queue says why and until when', async (ctx) => {
    let busy!: PostfixSink;
    let calm!: PostfixSink;
    let after!: PostfixSink;
    await withRelay(
      {
        'busy.test': { mx: [[10, 'mx.busy.test']] },
        'mx.busy.test': { a: ['127.0.0.2'] },
        'calm.test': { mx: [[10, 'mx.calm.test']] },
        'mx.calm.test': { a: ['127.0.0.1'] },
      },
      async (port, keep) => {
        busy = keep(await startPostfixSink({ address: '127.0.0.2', port, closeWith421: ['RCPT'] }));
        calm = keep(await startPostfixSink({ port }));
        keep({ close: async () => after?.close() });
      },
      // initial window 1: exactly one connection finds out about the 421; pauses of 5-10 s (±10%)
      { concurrency: { initialPerDestination: 1 }, retry: { minSeconds: 5, maxSeconds: 10 } },
      async (t, port) => {
        const mails = mailsTo(10, 'busy.test').flatMap((m, i) => [m, mailsTo(10, 'calm.test')[i]]);
        await sendAll(t.port('plain'), mails);
        await until('the 421', () => busy.events.some((e) => e.kind === 'disconnect'), 10_000);
        const refusedAt = busy.events.find((e) => e.kind === 'disconnect')!.at;
        // the busy destination takes mail again (same address and port) while the pause lasts
        await busy.close();
        after = await startPostfixSink({ address: '127.0.0.2', port });
        await until('every calm.test mail delivered', () => calm.messages() === 10, 10_000);
        const calmDone = calm.events.filter((e) => e.line === '.').at(-1)!.at;
        assert.ok(calmDone < refusedAt + 4500, 'the other destination was not held up by the pause');

        const ls = await run(KUBEMTA, ['queue', 'ls', '--config', t.file]);
        assert.equal(ls.code, 0, ls.stderr);
        const waiting = ls.stdout.split('\n').filter((l) => l.includes('@busy.test'));
        assert.equal(waiting.length, 10, ls.stdout);
        for (const line of waiting) assert.match(line, /waiting: destination busy\.test throttled after 421 4\.0\.0 Server closing connection until \d\d:\d\d:\d\dZ \(\d tr(y|ies)\)$/);
        assert.ok(Date.now() < refusedAt + 4500, 'still within the pause: the check above saw it');

        await until('every busy.test mail delivered after the pause', () => after.messages() === 10, 20_000);
        assert.equal(busy.connects().length, 1, 'one connection heard the 421; no other was opened to the busy destination');
        const resumedAt = after.connects()[0];
        ctx.diagnostic(`pause after the 421: ${resumedAt - refusedAt} ms; calm.test done ${calmDone - refusedAt} ms after it`);
        assert.ok(resumedAt - refusedAt >= 4500 - 100, `the next connection came ${resumedAt - refusedAt} ms after the 421, before the pause (≥ 4.5 s) ended`);
      },
    );
  });

  it('a destination that greets with 421 gets its initial window of connections, then none until the pause ends or kubemta queue flush', async (ctx) => {
    let sink!: PostfixSink;
    await withRelay(
      { 'full.test': { mx: [[10, 'mx.full.test']] }, 'mx.full.test': { a: ['127.0.0.1'] } },
      async (port, keep) => (sink = keep(await startPostfixSink({ port, closeWith421: ['CONNECT'] }))),
      { concurrency: { initialPerDestination: 2 }, retry: { minSeconds: 10, maxSeconds: 20 } },
      async (t) => {
        await sendAll(t.port('plain'), mailsTo(12, 'full.test'));
        const queued = () => t.relay.relay.queue.list().map((m) => m.state.recipients[0]);
        await until('every mail deferred or postponed', () => queued().length === 12 && queued().every((r) => r.waiting?.kind === 'throttled'), 10_000);
        const first = sink.connects()[0];
        // every mail has been looked at; any new connection now would be inside the pause
        await until('the pause to be seen from the peer', () => Date.now() > first + 1500, 3000);
        assert.ok(sink.connects().length <= 2, `${sink.connects().length} connections were opened; the window was 2`);
        const rows = queued();
        assert.ok(rows.every((r) => r.waiting?.kind === 'throttled' && r.waiting.after.startsWith('421 ')), JSON.stringify(rows[0]));
        assert.ok(rows.filter((r) => r.attempts === 0).length >= 10, 'the mails behind them were postponed, not tried');
        ctx.diagnostic(`${sink.connects().length} connection(s) to a destination greeting 421 for 12 mails; ${rows.filter((r) => r.attempts === 0).length} mails postponed without an attempt`);
        // an operator's flush of the whole queue ends the pause (Postfix's postqueue -f does too)
        const before = sink.connects().length;
        const flush = await run(KUBEMTA, ['queue', 'flush', '--config', t.file]);
        assert.equal(flush.code, 0, flush.stderr);
        await until('a new connection after the flush', () => sink.connects().length > before, 5000);
        assert.ok(Date.now() < first + 9000, 'before the pause (≥ 9 s) would have ended');
      },
    );
  });

  it('retries a greylisted recipient after retry.greylistSeconds, not sooner, and delivers the other recipients at once', async (ctx) => {
    const seen = new Map<string, number>();
    const rcptAt: number[] = [];
    let sink!: Awaited<ReturnType<typeof startSink>>;
    await withRelay(
      { 'grey.test': { mx: [[10, 'mx.grey.test']] }, 'mx.grey.test': { a: ['127.0.0.1'] }, 'open.test': { mx: [[10, 'mx.grey.test']] } },
      async (port, keep) => {
        sink = keep(await startSink({
          port,
          // a greylist: the first RCPT of a recipient is refused, and every one in the next 3 s
          rcpt: (a) => {
            if (!a.endsWith('@grey.test')) return undefined;
            rcptAt.push(Date.now());
            const first = seen.get(a) ?? (seen.set(a, Date.now()), Date.now());
            return Date.now() - first < 3000 ? [451, '4.7.1 greylisted, try again later'] : undefined;
          },
        }));
      },
      // the plain backoff would come back after 0.2 s, 0.4 s, 0.4 s, …: five refusals before the greylist lets go
      { retry: { minSeconds: 0.2, maxSeconds: 0.4, greylistSeconds: 4 } },
      async (t) => {
        await sendAll(t.port('plain'), [{ from: 'alice@sender.test', to: ['bob@grey.test', 'carol@open.test'] }]);
        await until('carol delivered', () => sink.received.some((m) => m.to.includes('carol@open.test')), 5000);
        assert.ok(Date.now() - rcptAt[0] < 3000, 'the other destination did not wait for the greylisted one');
        const ls = await run(KUBEMTA, ['queue', 'ls', '--config', t.file]);
        assert.match(ls.stdout, /-> bob@grey\.test \[relay bob@grey\.test\] next attempt at \d\d:\d\d:\d\dZ after 451 4\.7\.1 greylisted, try again later \(greylisted; 1 try\)/);
        assert.match(ls.stdout, /-> carol@open\.test \[relay carol@open\.test\] delivered$/m);
        await until('bob delivered', () => sink.received.some((m) => m.to.includes('bob@grey.test')), 10_000);
        assert.equal(rcptAt.length, 2, 'one refusal, one acceptance: no retry inside the greylisting delay');
        assert.ok(rcptAt[1] - rcptAt[0] >= 4000, `retried after ${rcptAt[1] - rcptAt[0]} ms`);
        ctx.diagnostic(`greylisted recipient retried after ${rcptAt[1] - rcptAt[0]} ms`);
      },
    );
  });
});
