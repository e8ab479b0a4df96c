// `kubemta queue …`: through the running relay's control socket when it runs, else on the files directly.
import { configArgs } from './args.ts';
import { loadConfig } from '../relay/config/index.ts';
import { askRelay } from '../relay/queue/control.ts';
import { runAdmin, type AdminRequest, type AdminResponse, type MailRow, type RecipientRow } from '../relay/queue/admin.ts';
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

/** `02:43:10Z` today (UTC), else `2026-12-07 02:43:10Z`. */
export function when(iso: string, now = new Date()): string {
  const [day, time] = iso.replace(/\.\d+Z$/, 'Z').split('T');
  return day === now.toISOString().slice(0, 10) ? time : `${day} ${time}`;
}

/** Why and until when a recipient waits, in words, or what became of it. */
export function recipientState(r: RecipientRow, hold: boolean, now = new Date()): string {
  if (hold) return 'held';
  if (r.status !== 'pending') return r.status;
  const at = r.nextAttemptAt ? when(r.nextAttemptAt, now) : 'now';
  const tries = `${r.attempts} ${r.attempts === 1 ? 'try' : 'tries'}`;
  const w = r.waiting;
  if (w?.kind === 'throttled') return `waiting: destination ${w.destination} throttled after ${w.after} until ${at} (${tries})`;
  if (w?.kind === 'greylisted') return `next attempt at ${at} after ${w.after} (greylisted; ${tries})`;
  return r.attempts ? `retry ${r.nextAttemptAt ?? 'now'} (${tries}: ${r.lastError ?? ''})` : 'pending';
}

function table(mails: MailRow[]): string {
  if (!mails.length) return 'queue is empty\n';
  const lines = ['ID                   RECEIVED                  SIZE  FROM -> RECIPIENT [ROUTE] STATE'];
  for (const m of mails) {
    for (const r of m.recipients) {
      const state = recipientState(r, m.hold);
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
