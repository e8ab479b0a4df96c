// The whole round trip, driven by real clients: the seed's smtpd.conf → kubemta import → the operator's
// render → a running relay, beside the relay example (examples/seed/relay.yaml with its tables). The same
// swaks conversations go to both; every RCPT answer, every mailbox and every copy left for onward delivery
// must be the same, and the same as the seed test (relay/seed.test.ts) expects of the example.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { ROOT, startTestRelay, swaks, tempDir } from '../../test/harness.ts';
import type { RunningRelay } from '../../relay/main.ts';
import { importFixture, localize, localRelayConfig, renderDocs } from '../../test/import-kit.ts';
import { until } from '../../test/until.ts';

interface Under {
  dir: string;
  relay: RunningRelay;
  port: (listener: string) => number;
}

/** The relay example as `npm start` runs it, with its table files, on free ports. */
async function startExample(dir: string): Promise<Under> {
  const seed = join(ROOT, 'examples/seed');
  for (const f of ['aliases', 'virtusers', 'domains', 'users', 'remote']) await copyFile(join(seed, f), join(dir, f));
  const config = localize(yaml.load(await readFile(join(seed, 'relay.yaml'), 'utf8')) as Record<string, unknown>, dir);
  const t = await startTestRelay(dir, config);
  return { dir, relay: t.relay, port: t.port };
}

async function startImported(dir: string): Promise<Under> {
  const { servers, problems } = renderDocs(importFixture('seed/smtpd.conf').docs.map((d) => d.doc));
  assert.deepEqual(problems, []);
  const t = await startTestRelay(dir, await localRelayConfig(servers[0], dir));
  return { dir, relay: t.relay, port: t.port };
}

/** A conversation: which listener, swaks arguments; the outcome is "accepted" or the first refusal. */
type Send = [name: string, listener: string, args: string[]];

const outside = (to: string, subject: string): Send => [subject, 'inbound', ['--from', 'sender@outside.test', '--to', to, '--header', `Subject: ${subject}`]];
const submit = (to: string, subject: string, auth = true): Send => [
  subject,
  'submission',
  ['-tls', ...(auth ? ['--auth-user', 'max', '--auth-password', 'demo-password'] : []), '--from', 'max@example.org', '--to', to, '--header', `Subject: ${subject}`],
];

const SENDS: Send[] = [
  // Listing 2 (virtusers, for domain 'example.org')
  outside('max.muster@example.org', 'L2 max.muster'),
  outside('max@example.org', 'L2 max'),
  outside('mm@example.org', 'L2 mm'),
  outside('moritz@example.org', 'L2 moritz'),
  outside('catchall@example.org', 'L2 catchall'),
  outside('anyone@example.org', 'L2 catch-all'),
  // Listing 3 (users, for domain <domains>, wildcards)
  outside('max@example.net', 'L3 max example.net'),
  outside('max@mail.example.com', 'L3 max *.example.com'),
  outside('Max@Shop.Example.NET', 'L3 max case'),
  outside('moritz@example.com', 'L3 moritz example.com'),
  outside('moritz@eu.example.net', 'L3 moritz *.example.net'),
  outside('postmaster@example.com', 'L3 postmaster'),
  outside('nobody@example.net', 'L3 unknown user'),
  outside('max@example.co.uk', 'not one of the domains'),
  outside('friend@elsewhere.test', 'relay attempt'),
  outside('mm@example.org,max@example.org', 'two addresses, one person'),
  // the local rule: accept for local alias <aliases> deliver to mbox (root → postmaster → max)
  ['local root', 'local', ['--from', 'cron@local.example.org', '--to', 'root@localhost', '--header', 'Subject: local root']],
  // Listing 1: the submission port (TLS, AUTH against <remote>, tag remote may go anywhere)
  submit('friend@elsewhere.test', 'submitted onward'),
  submit('moritz@example.net', 'submitted to moritz'),
  submit('friend@elsewhere.test', 'submitted without auth', false),
];

function outcome(r: { code: number; transcript: string }): string {
  if (r.code === 0) return 'accepted';
  return /<(?:\*\*|~\*) (\d{3} \d\.\d{1,3}\.\d{1,3})/.exec(r.transcript)?.[1] ?? `swaks exit ${r.code}`;
}

/** Subjects per mailbox under <mailStore>/mbox/. */
async function mailboxes(store: string): Promise<Record<string, string[]>> {
  const dir = join(store, 'mbox');
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: Record<string, string[]> = {};
  for (const n of names.filter((f) => !f.includes('.lock')).sort()) {
    out[n] = [...(await readFile(join(dir, n), 'utf8')).matchAll(/^Subject: (.*)$/gm)].map((m) => m[1]).sort();
  }
  return out;
}

/** Copies waiting for onward delivery (the test resolver is dead, so they stay). */
function onward(u: Under): string[] {
  return u.relay.relay.queue
    .list()
    .flatMap((m) => m.envelope.recipients.filter((r) => r.route.kind === 'relay').map((r) => `${r.rcpt} → ${r.route.address}`))
    .sort();
}

describe('operator/import delivery: the imported seed delivers every listing\'s addresses as the relay example does', () => {
  const under: Record<'example' | 'imported', Under> = {} as never;
  const outcomes: Record<'example' | 'imported', Record<string, string>> = { example: {}, imported: {} };
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    for (const [which, start] of [['example', startExample], ['imported', startImported]] as const) {
      const { dir, cleanup } = await tempDir(`kubemta-import-${which}-`);
      cleanups.push(cleanup);
      under[which] = await start(dir);
    }
    for (const [name, listener, args] of SENDS) {
      for (const which of ['example', 'imported'] as const) {
        outcomes[which][name] = outcome(await swaks(under[which].port(listener), args));
      }
    }
  });

  after(async () => {
    for (const u of Object.values(under)) await u.relay.stop();
    for (const c of cleanups) await c();
  });

  it('answers every conversation the same: accepted, or refused with the same code', () => {
    // smtpd.conf's `auth <remote>` refuses MAIL FROM before AUTH (530 5.7.0), in both
    assert.equal(outcomes.imported['submitted without auth'], '530 5.7.0');
    assert.deepEqual(outcomes.imported, outcomes.example);
    assert.equal(outcomes.imported['L3 unknown user'], '550 5.1.1');
    assert.equal(outcomes.imported['not one of the domains'], '550 5.7.1');
    assert.equal(outcomes.imported['relay attempt'], '550 5.7.1');
    const accepted = Object.entries(outcomes.imported).filter(([, o]) => o === 'accepted').map(([n]) => n);
    assert.equal(accepted.length, SENDS.length - 4);
  });

  it('leaves the same mail in the same mailboxes, and the same copies for onward delivery', async () => {
    const expected: Record<string, string[]> = {
      max: ['L2 max.muster', 'L2 max', 'L2 mm', 'L2 catchall', 'L2 catch-all', 'L3 max example.net', 'L3 max *.example.com', 'L3 max case', 'L3 postmaster', 'two addresses, one person', 'local root'].sort(),
      moritz: ['L2 moritz', 'L3 moritz example.com', 'L3 moritz *.example.net', 'submitted to moritz'].sort(),
    };
    const total = Object.values(expected).flat().length;
    const boxes = { example: {} as Record<string, string[]>, imported: {} as Record<string, string[]> };
    // the assertions below say which mail is missing when the wait runs out
    await until(`${total} mails in both setups`, async () => {
      for (const which of ['example', 'imported'] as const) boxes[which] = await mailboxes(join(under[which].dir, 'mail'));
      return Object.values(boxes).every((b) => Object.values(b).flat().length >= total);
    }, 30_000).catch(() => undefined);
    assert.deepEqual(boxes.imported, expected);
    assert.deepEqual(boxes.example, expected);
    assert.deepEqual(onward(under.imported), ['friend@elsewhere.test → friend@elsewhere.test']);
    assert.deepEqual(onward(under.imported), onward(under.example));
  });
});

