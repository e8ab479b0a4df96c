// Maildir delivery through a running relay; Python's mailbox.Maildir reads back what the relay wrote.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { injectMail } from '../../../test/inject.ts';
import { gone, localRoute, maildirOf, pythonRead, withLocalRelay } from '../../../test/local-delivery-kit.ts';

describe('relay/deliver/local: Maildir', () => {
  const f = withLocalRelay();

  it('delivers into new/ with the trace fields, readable by Python mailbox.Maildir', async () => {
    const id = await injectMail(f.t.relay, { from: 'alice@example.net', to: ['mm@example.org'], subject: 'hello maildir', routes: [localRoute('max', 'maildir', 'max.muster@example.org')] });
    await gone(f.t, id);
    const md = maildirOf(f.dir, 'max');
    assert.deepEqual((await readdir(md)).sort(), ['cur', 'new', 'tmp']);
    for (const d of ['', 'cur', 'new', 'tmp']) assert.equal((await stat(join(md, d))).mode & 0o777, 0o700, `${d || 'maildir'} mode`);
    assert.deepEqual(await readdir(join(md, 'tmp')), []);
    const [name] = await readdir(join(md, 'new'));
    const host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');
    const m = new RegExp(`^(\\d+)\\.M(\\d{1,6})P${process.pid}Q\\d+\\.${host.replace(/[.\\]/g, '\\$&')},S=(\\d+)$`).exec(name);
    assert.ok(m, name);
    assert.ok(Math.abs(Number(m[1]) - Date.now() / 1000) < 60);
    const st = await stat(join(md, 'new', name));
    assert.equal(Number(m[3]), st.size, 'S= is the file size');
    assert.equal(st.mode & 0o777, 0o600);
    const [msg] = await pythonRead('maildir', md);
    assert.ok(msg.raw.startsWith('Return-Path: <alice@example.net>\nX-Original-To: mm@example.org\nDelivered-To: max.muster@example.org\nFrom: <alice@example.net>\n'), msg.raw);
    assert.equal(msg.subject, 'hello maildir');
    assert.ok(msg.raw.endsWith('\n\nHello.\n') && !msg.raw.includes('\r'));
    // a Maildir removed behind the relay's back is made again
    await rm(md, { recursive: true });
    const again = await injectMail(f.t.relay, { from: 'alice@example.net', to: ['mm@example.org'], subject: 'again', routes: [localRoute('max', 'maildir')] });
    await gone(f.t, again);
    assert.deepEqual((await pythonRead('maildir', md)).map((m) => m.subject), ['again']);
  });

  it('gives every mail of a burst its own name', async () => {
    const n = 200;
    const ids = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        injectMail(f.t.relay, {
          from: 's@example.net',
          to: [`burst@example.org`, 'alias@example.org'],
          subject: `mail ${i}`,
          // two copies of each mail into the same Maildir, in the same instant
          routes: [localRoute('burst', 'maildir'), localRoute('burst', 'maildir', 'alias@example.org')],
        }),
      ),
    );
    await Promise.all(ids.map((id) => gone(f.t, id)));
    const names = await readdir(join(maildirOf(f.dir, 'burst'), 'new'));
    assert.equal(names.length, 2 * n);
    assert.equal(new Set(names.map((x) => x.split(',')[0])).size, 2 * n, 'unique before the size, too');
    const msgs = await pythonRead('maildir', maildirOf(f.dir, 'burst'));
    assert.equal(msgs.length, 2 * n);
    const seen = new Map<string, string[]>();
    for (const m of msgs) seen.set(m.subject, [...(seen.get(m.subject) ?? []), m.deliveredTo].sort());
    assert.equal(seen.size, n);
    for (const to of seen.values()) assert.deepEqual(to, ['alias@example.org', 'burst@example.org']);
  });
});
