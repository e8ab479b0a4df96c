// LMTP delivery through a running relay, against a real LMTP server the test starts (smtp-server in
// LMTP mode) on TCP and on a Unix socket: per-recipient replies after DATA become per-recipient outcomes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { tempDir } from '../../../test/harness.ts';
import { injectMail } from '../../../test/inject.ts';
import { startTestRelay } from '../../../test/harness.ts';
import { flush, gone, localConfig, tried, type Started } from '../../../test/local-delivery-kit.ts';
import type { RecipientRoute } from '../../queue/envelope.ts';

interface Transaction {
  from: string;
  to: string[];
  data: string;
}

interface LmtpServer {
  server: SMTPServer;
  transactions: Transaction[];
  /** Reply after DATA per recipient: a code and text; absent: 250. */
  replies: Map<string, [number, string]>;
  close(): Promise<void>;
}

function lmtpError(code: number, text: string): Error {
  return Object.assign(new Error(text), { responseCode: code });
}

/** An LMTP server: `unknown@…`/`unknown` is refused at RCPT, the rest as `replies` says after DATA. */
async function startLmtp(listen: { port: 0 } | { path: string }): Promise<LmtpServer & { port: number }> {
  const s: LmtpServer = { transactions: [], replies: new Map(), server: undefined as unknown as SMTPServer, close: async () => {} };
  s.server = new SMTPServer({
    lmtp: true,
    logger: false,
    disabledCommands: ['STARTTLS', 'AUTH'],
    authOptional: true,
    onRcptTo(address, _session, cb) {
      cb(address.address.startsWith('unknown') ? lmtpError(550, '5.1.1 unknown: no such user') : undefined);
    },
    onData(stream, session: SMTPServerSession, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        s.transactions.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, data: Buffer.concat(chunks).toString() });
        cb(null, to.map((a) => {
          const r = s.replies.get(a);
          return r ? lmtpError(...r) : `2.0.0 <${a}> Saved`;
        }) as unknown as string);
      });
    },
  });
  await new Promise<void>((resolve) => ('path' in listen ? s.server.listen(listen.path, resolve) : s.server.listen(0, '127.0.0.1', resolve)));
  const addr = s.server.server.address();
  return { ...s, port: typeof addr === 'object' && addr ? (addr as AddressInfo).port : 0, close: () => new Promise((r) => s.server.close(() => r())) };
}

const lmtp = (mailbox: string, action = 'lmtp', address = `${mailbox}@example.org`): RecipientRoute => ({ kind: 'lmtp', mailbox, action, address });

describe('relay/deliver/local: LMTP', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let tcp: Awaited<ReturnType<typeof startLmtp>>;
  let unix: Awaited<ReturnType<typeof startLmtp>>;
  let t: Started;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    tcp = await startLmtp({ port: 0 });
    unix = await startLmtp({ path: join(dir, 'lmtp.sock') });
    const down = await startLmtp({ port: 0 });
    await down.close();
    // rcptTo is always spelled out: ajv fills no defaults inside the action union (relay/config)
    const rcptTo = 'address';
    t = await startTestRelay(dir, localConfig({
      actions: {
        lmtp: { type: 'lmtp', host: '127.0.0.1', port: tcp.port, rcptTo },
        bymailbox: { type: 'lmtp', host: '127.0.0.1', port: tcp.port, rcptTo: 'mailbox' },
        socket: { type: 'lmtp', socket: join(dir, 'lmtp.sock'), rcptTo },
        down: { type: 'lmtp', host: '127.0.0.1', port: down.port, rcptTo },
        nosocket: { type: 'lmtp', socket: join(dir, 'missing.sock'), rcptTo },
        maildir: { type: 'maildir' },
      },
    }));
  });
  after(async () => {
    await t?.relay.stop();
    await Promise.all([tcp?.close(), unix?.close()]);
    await cleanup();
  });

  it('maps 250, 550 and 452 after DATA and 550 at RCPT, in one transaction, onto per-recipient outcomes', async () => {
    tcp.replies.set('gone@example.org', [550, '5.1.1 <gone> mailbox removed']);
    tcp.replies.set('full@example.org', [452, '4.2.2 <full> Quota exceeded (mailbox for user is full)']);
    const id = await injectMail(t.relay, { from: 'alice@example.net', to: ['max@example.org', 'gone@example.org', 'full@example.org', 'unknown@example.org'], subject: 'via lmtp', routes: [lmtp('max'), lmtp('gone'), lmtp('full'), lmtp('unknown')] });
    const states = await tried(t, id);
    assert.deepEqual(states.map((s) => s.status), ['delivered', 'failed', 'pending', 'failed']);
    assert.match(states[1].lastError!, /^lmtp\[127\.0\.0\.1:\d+\] said: 550 5\.1\.1 <gone> mailbox removed$/);
    assert.match(states[2].lastError!, /^lmtp\[127\.0\.0\.1:\d+\] said: 452 4\.2\.2 <full> Quota exceeded/);
    assert.match(states[3].lastError!, /said: 550 5\.1\.1 unknown: no such user$/);
    assert.equal(tcp.transactions.length, 1, 'one transaction for every recipient of the mail');
    const [tx] = tcp.transactions;
    assert.equal(tx.from, 'alice@example.net');
    assert.deepEqual(tx.to, ['max@example.org', 'gone@example.org', 'full@example.org']);
    assert.match(tx.data, /\r\nSubject: via lmtp\r\n/);
    assert.doesNotMatch(tx.data, /^Return-Path:|Delivered-To:/m, 'the LMTP server writes its own trace fields');
    // the deferred one is retried alone, and the mail leaves the queue once it is done
    tcp.replies.delete('full@example.org');
    await flush(t, id);
    await gone(t, id);
    assert.deepEqual(tcp.transactions.map((x) => x.to), [['max@example.org', 'gone@example.org', 'full@example.org'], ['full@example.org']]);
  });

  it('sends the mailbox or the final address as rcptTo says, once for duplicates', async () => {
    const before = tcp.transactions.length;
    const id = await injectMail(t.relay, {
      from: '',
      to: ['a@example.org', 'b@example.org', 'c@example.org'],
      routes: [lmtp('max', 'lmtp', 'max.muster@example.org'), lmtp('max2', 'lmtp', 'max.muster@example.org'), lmtp('max@store.example', 'bymailbox', 'max.muster@example.org')],
    });
    await gone(t, id);
    const txs = tcp.transactions.slice(before).map((x) => [x.from, x.to]);
    assert.deepEqual(txs.sort(), [['', ['max.muster@example.org']], ['', ['max@store.example']]]);
  });

  it('delivers over a Unix socket', async () => {
    const id = await injectMail(t.relay, { from: 'a@example.net', to: ['sock@example.org'], subject: 'socket', routes: [lmtp('sock', 'socket')] });
    await gone(t, id);
    assert.equal(unix.transactions.length, 1);
    assert.deepEqual(unix.transactions[0].to, ['sock@example.org']);
    assert.match(unix.transactions[0].data, /Subject: socket/);
  });

  it('defers when the LMTP server cannot be reached (TCP or socket), and when the action is not LMTP', async () => {
    const id = await injectMail(t.relay, { from: 'a@example.net', to: ['x@example.org', 'y@example.org', 'z@example.org'], routes: [lmtp('x', 'down'), lmtp('y', 'nosocket'), lmtp('z', 'maildir')] });
    const states = await tried(t, id);
    assert.deepEqual(states.map((s) => s.status), ['pending', 'pending', 'pending']);
    assert.match(states[0].lastError!, /^4\.4\.1 lmtp\[127\.0\.0\.1:\d+\]: .*ECONNREFUSED/);
    assert.match(states[1].lastError!, /^4\.4\.1 lmtp\[.*missing\.sock\]: connect ENOENT/);
    assert.match(states[2].lastError!, /^4\.3\.5 action "maildir" is not an lmtp action/);
  });
});
