import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { QueueStore, HEADER_MAGIC } from './fs.ts';
import { newQueueId, type Envelope } from './envelope.ts';
import { tempDir } from '../../test/harness.ts';

const opts = { fsync: true, groupCommitMs: 0, minFreeBytes: 0 };

function envelope(id = newQueueId()): Envelope {
  return {
    version: 1,
    id,
    from: 'a@example.org',
    recipients: [
      { rcpt: 'b@example.net', route: { kind: 'relay', address: 'b@example.net' } },
      { rcpt: 'c@example.net', route: { kind: 'relay', address: 'c@example.net' } },
    ],
    listener: 'test',
    client: { address: '127.0.0.1', port: 1, helo: 'x' },
    receivedAt: Date.now(),
  };
}

async function commit(store: QueueStore, body: string, env = envelope()) {
  const inc = store.create(env);
  inc.stream.end(body);
  return inc.commit();
}

describe('relay/queue/fs', () => {
  it('keeps content and envelope of a committed mail, and its state across a reopen', async () => {
    const { dir, cleanup } = await tempDir();
    const a = new QueueStore(dir, opts);
    await a.open();
    const mail = await commit(a, 'Subject: x\r\n\r\nhello\r\n');
    await a.saveState(mail.envelope.id, { hold: true, recipients: [{ status: 'delivered', attempts: 1 }, { status: 'pending', attempts: 2, lastError: '451 later' }] });
    const b = new QueueStore(dir, opts);
    const report = await b.open();
    assert.equal(report.recovered, 1);
    const again = b.get(mail.envelope.id)!;
    assert.deepEqual(again.envelope, mail.envelope);
    assert.equal(again.state.hold, true);
    assert.equal(again.state.recipients[1].lastError, '451 later');
    let content = '';
    for await (const c of b.content(again)) content += c;
    assert.equal(content, 'Subject: x\r\n\r\nhello\r\n');
    // what the content holds is known from writing it; a recovered mail is scanned again when delivered
    assert.deepEqual(mail.content, { eightBitHeader: false, eightBitBody: false, longLines: false });
    assert.equal(again.content, undefined);
    await cleanup();
  });

  it('finds what the content holds as it is written, whatever the writes (8-bit header and body, long lines)', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const s = new QueueStore(dir, opts);
      await s.open();
      const inc = s.create(envelope());
      inc.stream.write('Subject: \xe9\r\n', 'latin1');
      inc.stream.write('\r\nplain\r\n');
      inc.stream.end('x'.repeat(1500) + '\r\n');
      assert.deepEqual((await inc.commit()).content, { eightBitHeader: true, eightBitBody: false, longLines: true });
      const body8 = await commit(s, 'Subject: x\r\n\r\n\u00e9t\u00e9\r\n');
      assert.deepEqual(body8.content, { eightBitHeader: false, eightBitBody: true, longLines: false });
    } finally {
      await cleanup();
    }
  });

  it('on recovery removes mail that was still being received and quarantines unreadable files', async () => {
    const { dir, cleanup } = await tempDir();
    const a = new QueueStore(dir, opts);
    await a.open();
    const inc = a.create(envelope());
    inc.stream.write('half a mail');
    await new Promise<void>((r) => inc.stream.once('ready', () => r()));
    const good = await commit(a, 'ok\r\n');
    await writeFile(join(dir, 'messages', newQueueId()), 'garbage without header');
    await writeFile(join(dir, 'messages', newQueueId()), `${HEADER_MAGIC}{"id": "not json\n`);
    await writeFile(join(dir, 'state', `${newQueueId()}.json`), '{}');
    const b = new QueueStore(dir, opts);
    const report = await b.open();
    assert.equal(report.recovered, 1);
    assert.equal(report.removedIncomplete, 1);
    assert.equal(report.corrupt.length, 2);
    assert.deepEqual(await readdir(join(dir, 'incoming')), []);
    assert.deepEqual(await readdir(join(dir, 'messages')), [good.envelope.id]);
    assert.equal((await readdir(join(dir, 'corrupt'))).length, 2);
    assert.deepEqual(await readdir(join(dir, 'state')), []);
    await inc.abort();
    await cleanup();
  });

  it('group-commits directory fsyncs: 200 concurrent commits need far fewer fsync waves', async () => {
    const { dir, cleanup } = await tempDir();
    const s = new QueueStore(dir, opts);
    await s.open();
    await Promise.all(Array.from({ length: 200 }, (_, i) => commit(s, `mail ${i}\r\n`)));
    assert.equal(s.size, 200);
    assert.ok(s.directoryFsyncs < 100, `waves: ${s.directoryFsyncs}`);
    assert.ok(s.directoryFsyncs >= 1);
    await cleanup();
  });

  it('hands a fresh mail to its first delivery from memory, byte for byte what its file holds; later reads come from the file', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const store = new QueueStore(dir, opts);
      await store.open();
      const read = async (r: NodeJS.ReadableStream) => {
        const parts: Buffer[] = [];
        for await (const c of r) parts.push(Buffer.from(c as Buffer));
        return Buffer.concat(parts);
      };
      const onDisk = async (id: string, headerBytes: number) => (await readFile(join(dir, 'messages', id))).subarray(headerBytes);
      for (const size of [10, 70_000, 200_000]) {
        const inc = store.create(envelope());
        const body = Buffer.alloc(size, 'abcdefghij\r\n');
        // several writes, and a last chunk through end(): the same path a session's DATA takes
        inc.stream.write('Received: by test\r\n');
        inc.stream.write(body.subarray(0, size >> 1));
        inc.stream.end(body.subarray(size >> 1));
        const mail = await inc.commit();
        const file = await onDisk(mail.envelope.id, mail.headerBytes);
        assert.equal(file.length, mail.size);
        // remove the file: a content() that still returns the bytes served them from memory
        const moved = join(dir, 'moved');
        await rename(join(dir, 'messages', mail.envelope.id), moved);
        const first = await read(store.content(mail)).catch(() => undefined);
        if (size <= 64 * 1024) assert.deepEqual(first, file, 'first delivery from memory, identical bytes');
        else assert.equal(first, undefined, 'a large mail is not kept in memory');
        await assert.rejects(read(store.content(mail)), /ENOENT/, 'the second read goes to the file');
        await rename(moved, join(dir, 'messages', mail.envelope.id));
        assert.deepEqual(await read(store.content(mail)), file);
        await store.remove(mail.envelope.id);
      }
    } finally {
      await cleanup();
    }
  });

  it('abort leaves nothing behind', async () => {
    const { dir, cleanup } = await tempDir();
    const s = new QueueStore(dir, opts);
    await s.open();
    const inc = s.create(envelope());
    inc.stream.write('partial');
    await inc.abort();
    assert.deepEqual(await readdir(join(dir, 'incoming')), []);
    assert.equal(s.size, 0);
    await cleanup();
  });

  it('writes the envelope as the first line of the message file, before the content', async () => {
    const { dir, cleanup } = await tempDir();
    const s = new QueueStore(dir, opts);
    await s.open();
    const m = await commit(s, 'body\r\n');
    const raw = await readFile(join(dir, 'messages', m.envelope.id), 'utf8');
    assert.ok(raw.startsWith(HEADER_MAGIC));
    assert.equal(JSON.parse(raw.slice(HEADER_MAGIC.length, raw.indexOf('\n'))).id, m.envelope.id);
    assert.equal(raw.slice(m.headerBytes), 'body\r\n');
    await mkdir(join(dir, 'x'));
    await cleanup();
  });
});
