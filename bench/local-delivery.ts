// Local delivery benchmark: how fast the relay empties its queue into mbox files and Maildirs, fsync on
// (every append and every Maildir file is fsynced, as in production). For each format and mailbox count,
// MESSAGES mails are committed to a fresh queue under /var/tmp (a real disk: fsync must cost what it
// costs), then a relay starts on that queue in this process and the time from its start to an empty
// queue is taken; the rate counts from the moment the relay is up (recovery and startup excluded).
// Each case runs RUNS times (interleaved) and the median is reported: the machine is shared.
// Env: MESSAGES (2000), SIZE (2048 bytes of body), MAILBOXES (comma list, default 1,100), FORMATS
// (mbox,maildir), RUNS (3). Run: node_modules/.bin/node bench/local-delivery.ts
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { startRelay } from '../relay/main.ts';
import { createLogger } from '../relay/ops/log.ts';
import { newQueueId, type Envelope } from '../relay/queue/envelope.ts';
import { QueueStore } from '../relay/queue/fs.ts';
import { testMessage } from '../test/inject.ts';

const MESSAGES = Number(process.env.MESSAGES ?? 2000);
const SIZE = Number(process.env.SIZE ?? 2048);
const MAILBOXES = (process.env.MAILBOXES ?? '1,100').split(',').map(Number);
const FORMATS = (process.env.FORMATS ?? 'mbox,maildir').split(',') as ('mbox' | 'maildir')[];
const RUNS = Number(process.env.RUNS ?? 3);

interface Result {
  format: string;
  mailboxes: number;
  messages: number;
  seconds: number;
  msgPerSec: number;
  startupSeconds: number;
}

async function fillQueue(dir: string, format: string, mailboxes: number): Promise<void> {
  const store = new QueueStore(dir, { fsync: true, groupCommitMs: 0, minFreeBytes: 0 });
  await store.open();
  const line = 'The quick brown fox jumps over the lazy dog, again and again and again.\r\n';
  const body = line.repeat(Math.max(1, Math.round(SIZE / line.length)));
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < MESSAGES; i = next++) {
      const mailbox = `user${i % mailboxes}`;
      const env: Envelope = {
        version: 1,
        id: newQueueId(),
        from: 'sender@example.net',
        recipients: [{ rcpt: `${mailbox}@example.org`, route: { kind: 'local', mailbox, action: format, address: `${mailbox}@example.org` } }],
        listener: 'bench',
        client: { address: '127.0.0.1', port: 0, helo: 'bench' },
        receivedAt: Date.now(),
      };
      const incoming = store.create(env);
      incoming.stream.write(testMessage(env.from, [env.recipients[0].rcpt], `mail ${i}`, body));
      await incoming.commit();
    }
  };
  await Promise.all(Array.from({ length: 50 }, worker));
}

async function run(format: 'mbox' | 'maildir', mailboxes: number): Promise<Result> {
  const dir = await mkdtemp('/var/tmp/kubemta-bench-local-');
  try {
    await fillQueue(join(dir, 'queue'), format, mailboxes);
    const file = join(dir, 'relay.yaml');
    await writeFile(file, yaml.dump({
      hostname: 'bench.test',
      listeners: [{ name: 'plain', address: '127.0.0.1', port: 0, tls: 'none' }],
      queue: { dir: 'queue', minFreeBytes: 0 },
      mailStore: 'mail',
      actions: { [format]: { type: format } },
      http: { enabled: false },
      log: { level: 'silent' },
    }));
    const t0 = performance.now();
    const relay = await startRelay(file, { logger: createLogger('silent') });
    const ready = performance.now();
    const atReady = relay.relay.queue.size;
    while (relay.relay.queue.size > 0) await new Promise((r) => setTimeout(r, 2));
    const seconds = (performance.now() - ready) / 1000;
    await relay.stop();
    return { format, mailboxes, messages: atReady, seconds: Number(seconds.toFixed(2)), msgPerSec: Math.round(atReady / seconds), startupSeconds: Number(((ready - t0) / 1000).toFixed(2)) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const runs = new Map<string, Result[]>();
for (let round = 0; round < RUNS; round++) {
  for (const format of FORMATS) {
    for (const mailboxes of MAILBOXES) {
      const r = await run(format, mailboxes);
      const key = `${format.padEnd(7)} ${String(mailboxes).padStart(4)} mailbox(es)`;
      runs.set(key, [...(runs.get(key) ?? []), r]);
      console.log(`${key}: ${r.messages} × ${SIZE} B in ${r.seconds} s = ${r.msgPerSec} msg/s (relay start ${r.startupSeconds} s)`);
    }
  }
}
const results = [...runs].map(([key, rs]) => {
  const sorted = rs.map((r) => r.msgPerSec).sort((a, b) => a - b);
  return { key, median: sorted[Math.floor(sorted.length / 2)], runs: sorted };
});
for (const r of results) console.log(`median ${r.key}: ${r.median} msg/s (runs: ${r.runs.join(', ')})`);
console.log(JSON.stringify({ date: new Date().toISOString(), messages: MESSAGES, size: SIZE, results }));
