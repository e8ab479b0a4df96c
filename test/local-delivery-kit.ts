// Shared by the local delivery tests: a relay with mbox and maildir actions and slow retries (tests
// retry with `queue flush`, so nothing races a check), waiting on a mail's state, routes, and Python's
// mailbox module as the independent reader of what was written.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { join } from 'node:path';
import { baseConfig, python, startTestRelay, tempDir } from './harness.ts';
import { askRelay } from '../relay/queue/control.ts';
import type { RecipientRoute, RecipientState } from '../relay/queue/envelope.ts';
import { until } from './until.ts';

export type Started = Awaited<ReturnType<typeof startTestRelay>>;

export function localConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return baseConfig({
    mailStore: 'mail',
    actions: { mbox: { type: 'mbox' }, maildir: { type: 'maildir' } },
    outbound: { resolver: { servers: ['127.0.0.1:9'], timeoutSeconds: 0.2 }, retry: { minSeconds: 30, maxSeconds: 30 } },
    ...extra,
  });
}

/** Registers hooks that start a relay (localConfig + `extra`) in a fresh directory and stop it after. */
export function withLocalRelay(extra: Record<string, unknown> = {}): { dir: string; t: Started } {
  const f = {} as { dir: string; t: Started; cleanup?: () => Promise<void> };
  before(async () => {
    ({ dir: f.dir, cleanup: f.cleanup } = await tempDir());
    f.t = await startTestRelay(f.dir, localConfig(extra));
  });
  after(async () => {
    await f.t?.relay.stop();
    await f.cleanup?.();
  });
  return f;
}

export function localRoute(mailbox: string, action = 'mbox', address = `${mailbox}@example.org`): RecipientRoute {
  return { kind: 'local', mailbox, action, address };
}

/** Resolves once the mail has left the queue (every recipient done). */
export function gone(t: Started, id: string, timeoutMs?: number): Promise<true> {
  return until(`${id} to leave the queue`, () => (t.relay.relay.queue.get(id) ? undefined : true), timeoutMs);
}

/** The recipients' states once every one has been tried at least `attempts` times and the mail is still queued. */
export function tried(t: Started, id: string, attempts = 1): Promise<RecipientState[]> {
  return until(`${id} to be tried ${attempts}×`, () => {
    const m = t.relay.relay.queue.get(id);
    return m && m.state.recipients.every((r) => r.attempts >= attempts || r.status !== 'pending') ? m.state.recipients : undefined;
  });
}

export async function flush(t: Started, id: string): Promise<void> {
  const r = await askRelay(t.relay.relay.queue.dir, { op: 'flush', id });
  assert.ok(r?.ok, `flush: ${JSON.stringify(r)}`);
}

export interface PyMessage {
  /** `get_from()`: the From_ line without `From `. */
  from_: string;
  /** The message as the reader returns it (latin-1 decoded bytes). */
  raw: string;
  subject: string;
  deliveredTo: string;
}

const READ = `
import json, mailbox, sys
kind, path = sys.argv[1], sys.argv[2]
box = mailbox.mbox(path, create=False) if kind == 'mbox' else mailbox.Maildir(path, factory=None, create=False)
out = []
for key in box.keys():
    msg = box.get_message(key)
    out.append({'from_': msg.get_from() if kind == 'mbox' else '', 'raw': box.get_bytes(key).decode('latin-1'),
                'subject': msg['Subject'] or '', 'deliveredTo': msg['Delivered-To'] or '', 'key': key})
print(json.dumps(out))
`;

/** Every message of an mbox file or a Maildir, as Python's mailbox module reads it. */
export async function pythonRead(kind: 'mbox' | 'maildir', path: string): Promise<PyMessage[]> {
  const r = await python(READ, [kind, path]);
  assert.equal(r.code, 0, `python mailbox: ${r.stderr}`);
  return JSON.parse(r.stdout) as PyMessage[];
}

export function mboxFile(dir: string, mailbox: string): string {
  return join(dir, 'mail', 'mbox', mailbox);
}

export function maildirOf(dir: string, mailbox: string): string {
  return join(dir, 'mail', 'maildir', mailbox);
}
