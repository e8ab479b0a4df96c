// mbox delivery through a running relay: mail enters the queue exactly as intake commits it, with
// explicit local routes; Python's mailbox module reads back what the relay wrote.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { readFile, stat, utimes, writeFile, readdir, mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { injectMail, testMessage } from '../../../test/inject.ts';
import { LocalAgent } from './agent.ts';
import { MboxWriter } from './mbox.ts';
import { gone, localRoute, mboxFile, pythonRead, tried, withLocalRelay } from '../../../test/local-delivery-kit.ts';

const ASCTIME = /^[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}$/;

describe('relay/deliver/local: mbox', () => {
  const f = withLocalRelay();

  it('writes a From_ line, Return-Path, X-Original-To and Delivered-To that Python mailbox.mbox reads', async () => {
    const id = await injectMail(f.t.relay, { from: 'alice@example.net', to: ['mm@example.org'], subject: 'first', routes: [localRoute('max', 'mbox', 'max.muster@example.org')] });
    await gone(f.t, id);
    const bounce = await injectMail(f.t.relay, { from: '', to: ['mm@example.org'], subject: 'bounce', routes: [localRoute('max', 'mbox', 'max.muster@example.org')] });
    await gone(f.t, bounce);
    const msgs = await pythonRead('mbox', mboxFile(f.dir, 'max'));
    assert.equal(msgs.length, 2);
    const [first, second] = msgs;
    assert.match(first.from_, /^alice@example\.net /);
    assert.match(first.from_.slice('alice@example.net '.length), ASCTIME);
    assert.ok(first.raw.startsWith('Return-Path: <alice@example.net>\nX-Original-To: mm@example.org\nDelivered-To: max.muster@example.org\nFrom: <alice@example.net>\n'), first.raw);
    assert.equal(first.subject, 'first');
    assert.ok(first.raw.endsWith('\n\nHello.\n'), JSON.stringify(first.raw.slice(-20)));
    assert.ok(!first.raw.includes('\r'), 'Unix line ends');
    assert.match(second.from_, /^MAILER-DAEMON /);
    assert.ok(second.raw.startsWith('Return-Path: <>\n'));
    const file = await readFile(mboxFile(f.dir, 'max'), 'latin1');
    assert.ok(file.startsWith('From alice@example.net '));
    assert.ok(file.endsWith('Hello.\n\n'), 'a blank line after each message');
    assert.equal((await stat(mboxFile(f.dir, 'max'))).mode & 0o777, 0o600);
    assert.equal((await stat(join(f.dir, 'mail', 'mbox'))).mode & 0o777, 0o700);
    assert.deepEqual((await readdir(join(f.dir, 'mail', 'mbox'))).sort(), ['max'], 'no lock file left');
  });

  it('quotes From lines mboxrd-style, so they round-trip', async () => {
    const body = ['From here on it is quoted', '>From once quoted', '>>From twice quoted', 'Fromage is not', ' From indented', 'From'].join('\r\n') + '\r\n';
    const id = await injectMail(f.t.relay, { from: 'a@example.net', to: ['rd@example.org'], message: testMessage('a@example.net', ['rd@example.org'], 'rd', body), routes: [localRoute('rd')] });
    await gone(f.t, id);
    const file = await readFile(mboxFile(f.dir, 'rd'), 'latin1');
    assert.match(file, /\n>From here on it is quoted\n>>From once quoted\n>>>From twice quoted\nFromage is not\n From indented\nFrom\n\n$/);
    const [msg] = await pythonRead('mbox', mboxFile(f.dir, 'rd'));
    const unquoted = msg.raw.replace(/^>(>*From )/gm, '$1');
    assert.ok(unquoted.endsWith('\n\n' + body.replace(/\r\n/g, '\n')), unquoted);
  });

  it('keeps concurrent deliveries into one mbox whole and apart', async () => {
    const n = 40;
    const line = (i: number) => `line of mail ${i} `.padEnd(70, String(i % 10)) + '\r\n';
    const ids = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        injectMail(f.t.relay, { from: 's@example.net', to: ['busy@example.org'], message: testMessage('s@example.net', ['busy@example.org'], `mail ${i}`, line(i).repeat(300)), routes: [localRoute('busy')] }),
      ),
    );
    await Promise.all(ids.map((id) => gone(f.t, id)));
    const msgs = await pythonRead('mbox', mboxFile(f.dir, 'busy'));
    assert.equal(msgs.length, n);
    assert.deepEqual(msgs.map((m) => m.subject).sort(), Array.from({ length: n }, (_, i) => `mail ${i}`).sort());
    for (const m of msgs) {
      const i = Number(m.subject.split(' ')[1]);
      assert.ok(m.raw.endsWith('\n\n' + line(i).replace('\r\n', '\n').repeat(300)), `mail ${i} is whole`);
    }
  });

  it('starts a message of its own after an mbox that a crashed writer left mid-line', async () => {
    const file = mboxFile(f.dir, 'torn');
    await mkdir(join(f.dir, 'mail', 'mbox'), { recursive: true });
    await writeFile(file, 'From x@example.net Thu Nov 26 00:00:00 2026\nSubject: torn\n\nhalf a li');
    const id = await injectMail(f.t.relay, { from: 'a@example.net', to: ['torn@example.org'], subject: 'whole', routes: [localRoute('torn')] });
    await gone(f.t, id);
    const msgs = await pythonRead('mbox', file);
    assert.deepEqual(msgs.map((m) => m.subject), ['torn', 'whole']);
    assert.ok(msgs[1].raw.endsWith('\n\nHello.\n'));
    assert.match(await readFile(file, 'latin1'), /half a li\n\nFrom a@example\.net /);
  });

  it('cuts off a message whose write fails and still writes the rest of its group', async () => {
    const file = mboxFile(f.dir, 'group');
    const writer = new MboxWriter({ staleLockMs: 500_000, lockPollMs: 50, maxGroup: 10 });
    const message = (subject: string, fail = false) => ({
      head: `From a@example.net Thu Nov 26 00:00:00 2026\n`,
      deadline: Date.now() + 5000,
      body: async function* () {
        yield Buffer.from(`Subject: ${subject}\n\n${'x'.repeat(100_000)}\n`);
        if (fail) throw Object.assign(new Error('the queued file went away'), { code: 'ENOENT' });
      },
    });
    // the first append starts a group at once; the next three queue behind it and go together
    const results = await Promise.allSettled([writer.append(file, message('one')), writer.append(file, message('two')), writer.append(file, message('three', true)), writer.append(file, message('four'))]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual((await pythonRead('mbox', file)).map((m) => m.subject), ['one', 'two', 'four']);
    const text = await readFile(file, 'latin1');
    const whole = (subject: string) => message(subject).head.length + `Subject: ${subject}\n\n`.length + 100_001 + 1;
    assert.equal(text.length, whole('one') + whole('two') + whole('four'), 'nothing of the failed message is left');
  });

  it('waits while a Python process holds mailbox.mbox(...).lock(), and delivers after unlock', async () => {
    const file = mboxFile(f.dir, 'locked');
    await mkdir(join(f.dir, 'mail', 'mbox'), { recursive: true });
    const py = spawn('python3', ['-u', '-c', `
import mailbox, sys, time
box = mailbox.mbox(sys.argv[1])
box.lock()
print('locked', flush=True)
time.sleep(1.5)
box.unlock()
print('unlocked', time.time(), flush=True)
`, file]);
    const lines = createInterface({ input: py.stdout! })[Symbol.asyncIterator]();
    assert.equal((await lines.next()).value, 'locked');
    const id = await injectMail(f.t.relay, { from: 'a@example.net', to: ['locked@example.org'], routes: [localRoute('locked')] });
    await new Promise((r) => setTimeout(r, 700));
    assert.equal((await stat(file)).size, 0, 'nothing written while Python holds the lock');
    assert.ok(f.t.relay.relay.queue.get(id), 'still queued');
    const unlockedAt = Number(String((await lines.next()).value).split(' ')[1]) * 1000;
    await gone(f.t, id);
    assert.ok((await stat(file)).mtimeMs >= unlockedAt - 5, 'written after the unlock');
    assert.equal((await pythonRead('mbox', file)).length, 1);
  });

  it('defers when the lock is not released in time, and breaks a stale lock', async () => {
    const file = mboxFile(f.dir, 'stale');
    await writeFile(`${file}.lock`, '');
    // the agent on its own, with a short lock timeout; the mail comes from the queue as the scheduler hands it
    const id = await injectMail(f.t.relay, { from: 'a@example.net', to: ['stale@example.org'], routes: [localRoute('stale', 'unconfigured')] });
    const queued = f.t.relay.relay.queue.get(id)!;
    const mail = { ...queued, envelope: { ...queued.envelope, recipients: [{ rcpt: 'stale@example.org', route: localRoute('stale') }] } };
    const agent = new LocalAgent(f.t.relay.relay, { lockTimeoutMs: 300, lockPollMs: 50 });
    const started = Date.now();
    const [locked] = await agent.deliver(mail, [0], () => f.t.relay.relay.queue.content(mail));
    assert.equal(locked.result, 'deferred');
    assert.match(locked.detail, /^4\.2\.0 mbox "stale": still locked by another process/);
    assert.ok(Date.now() - started >= 250, 'waited for the lock first');
    const old = new Date(Date.now() - 600_000);
    await utimes(`${file}.lock`, old, old);
    const [broken] = await agent.deliver(mail, [0], () => f.t.relay.relay.queue.content(mail));
    assert.equal(broken.result, 'delivered', broken.detail);
    assert.deepEqual((await readdir(join(f.dir, 'mail', 'mbox'))).filter((f) => f.startsWith('stale')), ['stale']);
    // the injected mail itself names an action this relay does not have: deferred, never dropped
    const [state] = await tried(f.t, id);
    assert.match(state.lastError!, /^4\.3\.5 action "unconfigured" is not an mbox or maildir action/);
  });

  /** One mail to mailbox `box`, delivered by an agent of its own with a short lock timeout (300 ms). */
  const deliverTo = async (box: string) => {
    const agent = new LocalAgent(f.t.relay.relay, { lockTimeoutMs: 300, lockPollMs: 50 });
    const id = await injectMail(f.t.relay, { from: 'a@example.net', to: [`${box}@example.org`], routes: [localRoute(box, 'unconfigured')] });
    const queued = f.t.relay.relay.queue.get(id)!;
    const mail = { ...queued, envelope: { ...queued.envelope, recipients: [{ rcpt: `${box}@example.org`, route: localRoute(box) }] } };
    return (await agent.deliver(mail, [0], () => f.t.relay.relay.queue.content(mail)))[0];
  };

  it('breaks at once a lock that a killed kubemta left before this relay started, not one a live reader holds', async () => {
    const file = mboxFile(f.dir, 'crashed');
    await mkdir(join(f.dir, 'mail', 'mbox'), { recursive: true });
    // what a relay killed mid-append leaves: its lock, taken before this process started
    await writeFile(`${file}.lock`, 'kubemta 0b7a4c1e-dead-4bee-8000-000000000000\n');
    const startedLongAgo = new Date(performance.timeOrigin - 5_000);
    await utimes(`${file}.lock`, startedLongAgo, startedLongAgo);
    const started = Date.now();
    const crashed = await deliverTo('crashed');
    assert.equal(crashed.result, 'delivered', crashed.detail);
    assert.ok(Date.now() - started < 250, 'did not wait for the lock');
    // a fresh lock that names no kubemta process (a reader such as mutt or Dovecot) is waited for
    const reader = mboxFile(f.dir, 'reading');
    await writeFile(`${reader}.lock`, '');
    const read = await deliverTo('reading');
    assert.equal(read.result, 'deferred');
    assert.match(read.detail, /still locked by another process/);
  });

  it('breaks at once a fresh kubemta lock whose process on this host is gone, not one whose process lives', async () => {
    await mkdir(join(f.dir, 'mail', 'mbox'), { recursive: true });
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    // taken after this relay started (no age rule applies), by a kubemta process that has exited
    await writeFile(`${mboxFile(f.dir, 'orphan')}.lock`, `kubemta 0b7a4c1e-dead-4bee-8000-000000000001 ${dead.pid} ${hostname()}\n`);
    const started = Date.now();
    const orphan = await deliverTo('orphan');
    assert.equal(orphan.result, 'delivered', orphan.detail);
    assert.ok(Date.now() - started < 250, 'did not wait for the lock');
    // the same, held by a live process (the test runner stands in for another relay on this host)
    await writeFile(`${mboxFile(f.dir, 'held')}.lock`, `kubemta 0b7a4c1e-dead-4bee-8000-000000000002 ${process.ppid} ${hostname()}\n`);
    const held = await deliverTo('held');
    assert.equal(held.result, 'deferred');
    assert.match(held.detail, /still locked by another process/);
  });

  it('refuses a mailbox name that could leave the mail store, for good and without writing', async () => {
    const bad = ['..', '.', '../escape', 'a/b', 'nul\0byte', '.hidden', 'x.lock', ''];
    const routes = bad.flatMap((m) => [localRoute(m), localRoute(m, 'maildir')]);
    const id = await injectMail(f.t.relay, { from: '', to: routes.map((_, i) => `bad${i}@example.org`), routes });
    const queued = f.t.relay.relay.queue.get(id)!;
    const outcomes = await new LocalAgent(f.t.relay.relay).deliver(queued, routes.map((_, i) => i), () => f.t.relay.relay.queue.content(queued));
    assert.deepEqual(new Set(outcomes.map((o) => o.result)), new Set(['failed']));
    assert.match(outcomes[4].detail, /^5\.1\.3 mailbox name "\.\.\/escape" contains "\/"$/);
    assert.match(outcomes[8].detail, /^5\.1\.3 mailbox name "nul\\u0000byte" contains NUL$/);
    await gone(f.t, id);
    assert.ok(!(await readdir(f.dir)).includes('escape'), 'nothing outside the mail store');
    assert.ok(!(await readdir(join(f.dir, 'mail'))).includes('escape'));
    const entries = [...(await readdir(join(f.dir, 'mail', 'mbox'))), ...(await readdir(join(f.dir, 'mail', 'maildir')).catch(() => []))];
    for (const m of ['.hidden', 'x.lock', 'a', 'nul\0byte']) assert.ok(!entries.includes(m), m);
  });
});
