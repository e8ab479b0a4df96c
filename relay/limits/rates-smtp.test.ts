// Rate limits through real clients (Python smtplib) against a real relay: each limit, its reply naming
// the limit and when it resets, and the reset itself (short windows, waited for by probing, not sleeping).
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { baseConfig, python, tempDir, writeConfig } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { startRelay, type RunningRelay } from '../main.ts';
import { createLogger } from '../ops/log.ts';
import { hashPassword } from '../auth/hash.ts';

// argv: a JSON list of sessions {port, source, secure, user, password, from, rcpts, n}, run one after the
// other in one process (a process per session is slow on a loaded machine, and the windows are short).
// Prints one result per session: {connect, messages: [{mail, rcpt: [], data}]}.
const SESSIONS = `
import json, smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def run(o):
    try:
        if o['secure']:
            s = smtplib.SMTP_SSL('127.0.0.1', o['port'], context=ctx, source_address=(o['source'], 0), timeout=30)
        else:
            s = smtplib.SMTP('127.0.0.1', o['port'], source_address=(o['source'], 0), timeout=30)
    except smtplib.SMTPConnectError as e:
        return {'connect': '%d %s' % (e.smtp_code, e.smtp_error.decode())}
    s.ehlo('py.test')
    if o['user']: s.login(o['user'], o['password'])
    out = []
    for i in range(o['n']):
        code, text = s.mail(o['from'])
        m = {'mail': '%d %s' % (code, text.decode()), 'rcpt': []}
        if code == 250:
            ok = False
            for r in o['rcpts']:
                c, t = s.rcpt(r); m['rcpt'].append('%d %s' % (c, t.decode())); ok = ok or c == 250
            if ok:
                c, t = s.data(b'Subject: rate test\\r\\n\\r\\nhello\\r\\n'); m['data'] = '%d %s' % (c, t.decode())
            else:
                s.rset()
        out.append(m)
    s.quit()
    return {'connect': '220', 'messages': out}
print(json.dumps([run(o) for o in json.loads(sys.argv[1])]))
`;

interface Session {
  connect: string;
  messages?: { mail: string; rcpt: string[]; data?: string }[];
}

describe('rate limits through real clients', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let relay: RunningRelay;
  const logLines: string[] = [];
  type Plan = { listener?: string; source?: string; user?: string; from?: string; rcpts?: string[]; n?: number };
  const sessions = async (plans: Plan[]): Promise<Session[]> => {
    const list = plans.map((o) => ({
      port: relay.ports[o.listener ?? 'plain'],
      secure: o.listener === 'smtps',
      source: o.source ?? '127.0.0.1',
      user: o.user ?? '',
      password: 'right-password',
      from: o.from ?? 'a@example.org',
      rcpts: o.rcpts ?? [],
      n: o.n ?? 0,
    }));
    const r = await python(SESSIONS, [JSON.stringify(list)]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Session[];
  };
  const session = async (o: Plan = {}): Promise<Session> => (await sessions([o]))[0];
  const refused = async (reason: string) => (await relay.relay.metrics.refused.get()).values.filter((v) => v.labels.reason === reason).reduce((n, v) => n + v.value, 0);
  const logged = (limit: string) => logLines.filter((l) => l.includes('"rate limit reached') && l.includes(`"limit":"${limit}"`)).length;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const hash = await hashPassword('right-password', 4);
    const file = await writeConfig(
      dir,
      baseConfig({
        tables: { remote: { type: 'credentials', entries: { max: hash, moritz: hash } } },
        listeners: [
          { name: 'plain', address: '127.0.0.1', port: 0, tls: 'none' },
          { name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', pki: 'mail', auth: 'remote' },
          // its own, stricter connection limit, counted apart
          { name: 'strict', address: '127.0.0.1', port: 0, tls: 'none', rates: { client: { connections: 1 } } },
        ],
        log: { level: 'info' },
        limits: {
          maxConnectionsPerClient: 1000,
          rates: {
            client: { connections: 3, messages: 2, windowSeconds: 3, ipv4Prefix: 24 },
            sender: { messages: 3, recipients: 4, windowSeconds: 3 },
            maxTracked: 100,
          },
        },
      }),
    );
    const sink = new PassThrough();
    sink.setEncoding('utf8');
    sink.on('data', (d: string) => logLines.push(...d.split('\n').filter(Boolean)));
    relay = await startRelay(file, { logger: createLogger('info', sink) });
  });
  beforeEach(() => relay.relay.rates.clear());
  after(async () => {
    await relay?.stop();
    await cleanup();
  });

  it('connections per client network: the 4th in a window gets 421 4.7.0 naming the limit and the reset, logged once; then the window resets', async () => {
    const before = logged('client-connections');
    // 127.0.0.x counts as one /24
    const r = await sessions(['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.1.1'].map((source) => ({ source })));
    assert.deepEqual(r.slice(0, 3).map((x) => x.connect), ['220', '220', '220']);
    assert.match(r[3].connect, /^421 4\.7\.0 Too many connections from network 127\.0\.0\.0\/24 \(limit 3 per 3 s\); try again in [123] s$/);
    assert.match(r[4].connect, /^421 4\.7\.0 /);
    assert.equal(r[5].connect, '220', 'another /24 is not affected');
    assert.equal(logged('client-connections') - before, 1, 'one log line for the window, not one per refusal');
    assert.ok((await refused('rate-client-connections')) >= 2);
    // the reset: the reply said when; a new connection is admitted once the window ended
    await until('a connection admitted after the window', async () => (await session({ source: '127.0.0.6' })).connect === '220', 10_000, 100);
  });

  it('a listener with its own limit counts apart: 1 connection there, the shared limit elsewhere untouched', async () => {
    const r = await sessions([{ listener: 'strict' }, { listener: 'strict' }, { listener: 'plain' }]);
    assert.equal(r[0].connect, '220');
    assert.match(r[1].connect, /^421 4\.7\.0 Too many connections from network 127\.0\.0\.0\/24 \(limit 1 per 3 s\)/);
    assert.equal(r[2].connect, '220');
  });

  it('messages per client network: the 3rd MAIL FROM in a window gets 450 4.7.1, the session goes on, and after the reset mail is admitted again', async () => {
    const r = await session({ n: 3, rcpts: ['x@example.net'] });
    assert.equal(r.connect, '220');
    const mails = r.messages!.map((m) => m.mail);
    assert.match(mails[0], /^250 /);
    assert.match(mails[1], /^250 /);
    assert.match(mails[2], /^450 4\.7\.1 Too many messages from network 127\.0\.0\.0\/24 \(limit 2 per 3 s\); try again in [123] s$/);
    await until('MAIL FROM admitted after the window', async () => /^250 /.test((await session({ n: 1 })).messages![0].mail), 10_000, 100);
  });

  it('messages per authenticated user: the 4th from max gets 450 4.7.1 naming the user, moritz is not affected', async () => {
    // from four addresses in different /24s, so only the per-user limit can bite
    const sources = ['127.0.10.1', '127.0.11.1', '127.0.12.1', '127.0.13.1'];
    const r = await sessions([
      ...sources.map((source) => ({ listener: 'smtps', source, user: 'max', from: 'max@example.org', rcpts: ['x@example.net'], n: 1 })),
      { listener: 'smtps', source: '127.0.14.1', user: 'moritz', from: 'max@example.org', rcpts: ['x@example.net'], n: 1 },
    ]);
    const replies = r.map((x) => x.messages![0].mail);
    assert.deepEqual(replies.slice(0, 3).map((x) => x.slice(0, 3)), ['250', '250', '250']);
    assert.match(replies[3], /^450 4\.7\.1 Too many messages from user max \(limit 3 per 3 s\); try again in [123] s$/);
    assert.match(replies[4], /^250 /);
    assert.match(r[4].messages![0].data!, /^250 /);
    await until('max admitted after the window', async () => /^250 /.test((await session({ listener: 'smtps', source: '127.0.15.1', user: 'max', from: 'max@example.org', n: 1 })).messages![0].mail), 10_000, 100);
  });

  it('messages per sender domain without AUTH: example.com is refused after 3 from any network, example.org is not', async () => {
    const sources = ['127.0.20.1', '127.0.21.1', '127.0.22.1', '127.0.23.1'];
    const r = await sessions([...sources.map((source) => ({ source, from: `u${source}@Example.COM`, n: 1 })), { source: '127.0.24.1', from: 'u@example.org', n: 1 }]);
    const replies = r.map((x) => x.messages![0].mail);
    assert.deepEqual(replies.slice(0, 3).map((x) => x.slice(0, 3)), ['250', '250', '250']);
    assert.match(replies[3], /^450 4\.7\.1 Too many messages from sender domain example\.com \(limit 3 per 3 s\)/);
    assert.match(replies[4], /^250 /);
  });

  it('recipients per sender: the 5th RCPT in a window gets 450 4.7.1; the message with the accepted ones is queued', async () => {
    const r = await session({ listener: 'smtps', source: '127.0.30.1', user: 'max', from: 'max@example.org', rcpts: ['a@example.net', 'b@example.net', 'c@example.net'], n: 2 });
    const [first, second] = r.messages!;
    assert.deepEqual(first.rcpt.map((x) => x.slice(0, 3)), ['250', '250', '250']);
    assert.match(second.rcpt[0], /^250 /);
    assert.match(second.rcpt[1], /^450 4\.7\.1 Too many recipients from user max \(limit 4 per 3 s\); try again in [123] s$/);
    assert.match(second.data!, /^250 /);
    assert.ok((await refused('rate-sender-recipients')) >= 2);
    await until('a recipient admitted after the window', async () => {
      const s = await session({ listener: 'smtps', source: '127.0.31.1', user: 'max', from: 'max@example.org', rcpts: ['d@example.net'], n: 1 });
      return /^250 /.test(s.messages![0].rcpt[0] ?? '');
    }, 10_000, 100);
  });

  it('a flood of distinct client addresses holds at most maxTracked windows (oldest forgotten), as /metrics shows', async () => {
    const sources = Array.from({ length: 300 }, (_, i) => `127.${1 + Math.floor(i / 250)}.${i % 250}.1`);
    const script = `
import socket, sys
port = int(sys.argv[1])
for src in sys.argv[2].split(','):
    s = socket.create_connection(('127.0.0.1', port), source_address=(src, 0), timeout=10)
    s.recv(512); s.close()
`;
    const r = await python(script, [String(relay.ports.plain), sources.join(',')]);
    assert.equal(r.code, 0, r.stderr);
    const metrics = await relay.relay.metrics.registry.metrics();
    const windows = Number(/kubemta_rate_limit_windows\{table="client"\} (\d+)/.exec(metrics)?.[1]);
    const evicted = Number(/kubemta_rate_limit_evicted\{table="client"\} (\d+)/.exec(metrics)?.[1]);
    assert.ok(windows <= 100, `windows held: ${windows}`);
    assert.ok(evicted >= 200, `evicted: ${evicted}`);
  });
});
