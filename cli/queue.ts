// `kubemta queue …`: through the running relay's control socket when it runs, else on the files directly.
import { configArgs } from './args.ts';
import { loadConfig } from '../relay/config/index.ts';
import { askRelay } from '../relay/queue/control.ts';
import { runAdmin, type AdminRequest, type AdminResponse, type MailRow } from '../relay/queue/admin.ts';
import { QueueStore } from '../relay/queue/fs.ts';

function request(positionals: string[]): AdminRequest {
  const [op, id] = positionals;
  switch (op) {
    case 'ls':
    case undefined:
      return { op: 'ls' };
    case 'flush':
      return { op: 'flush', id };
    case 'show':
    case 'rm':
    case 'hold':
    case 'release':
      if (!id) throw new Error(`queue ${op} needs a queue id`);
      return { op, id };
    default:
      throw new Error(`unknown queue command "${op}" (ls, show, rm, hold, release, flush)`);
  }
}

function table(mails: MailRow[]): string {
  if (!mails.length) return 'queue is empty\n';
  const lines = ['ID                   RECEIVED                  SIZE  FROM -> RECIPIENT [ROUTE] STATE'];
  for (const m of mails) {
    for (const r of m.recipients) {
      const state = m.hold ? 'held' : r.status === 'pending' && r.attempts ? `retry ${r.nextAttemptAt ?? 'now'} (${r.attempts} tries: ${r.lastError ?? ''})` : r.status;
      const rcpt = r.also?.length ? `${r.rcpt} (also ${r.also.join(', ')})` : r.rcpt;
      lines.push(`${m.id} ${m.receivedAt} ${String(m.size).padStart(5)}  ${m.from} -> ${rcpt} [${r.route}] ${state}`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function queueCommand(argv: string[]): Promise<number> {
  const args = configArgs(argv);
  const req = request(args.positionals);
  const { config } = loadConfig(args.config, args.sets);
  let res: AdminResponse | undefined = await askRelay(config.queue.dir, req);
  if (!res) {
    // no relay runs on this queue: work on the files (the relay's recovery rules apply)
    const store = new QueueStore(config.queue.dir, config.queue);
    await store.open();
    res = await runAdmin(store, req);
  }
  if (!res.ok) {
    process.stderr.write(`kubemta queue: ${res.error}\n`);
    return 1;
  }
  if (args.json) process.stdout.write(JSON.stringify(res.mails ?? res.mail ?? { message: res.message }, null, 2) + '\n');
  else if (res.mails) process.stdout.write(table(res.mails));
  else if (res.mail) process.stdout.write(JSON.stringify(res.mail, null, 2) + '\n');
  else process.stdout.write(`${res.message}\n`);
  return 0;
}
