// Queue administration (`kubemta queue …`), the same operations whether they run inside the relay (over
// the control socket) or offline against a stopped relay's queue directory.
import type { QueueStore, QueuedMail } from './fs.ts';
import type { Waiting } from './envelope.ts';

export type AdminRequest =
  | { op: 'ls' }
  | { op: 'show'; id: string }
  | { op: 'rm'; id: string }
  | { op: 'hold'; id: string }
  | { op: 'release'; id: string }
  | { op: 'flush'; id?: string };

export interface RecipientRow {
  rcpt: string;
  /** Other RCPTs this copy also stands for. */
  also?: string[];
  route: string;
  status: string;
  attempts: number;
  nextAttemptAt?: string;
  lastError?: string;
  /** Why it waits until nextAttemptAt beyond the backoff: a throttled destination, greylisting. */
  waiting?: Waiting;
}

export interface MailRow {
  id: string;
  from: string;
  receivedAt: string;
  size: number;
  hold: boolean;
  tag?: string;
  user?: string;
  recipients: RecipientRow[];
}

export type AdminResponse = { ok: true; mails?: MailRow[]; mail?: MailRow; message?: string } | { ok: false; error: string };

export function describeRoute(route: QueuedMail['envelope']['recipients'][number]['route']): string {
  switch (route.kind) {
    case 'relay':
      return `relay ${route.address}`;
    case 'local':
      return `${route.action} mailbox ${route.mailbox} (${route.address})`;
    case 'lmtp':
      return `${route.action} lmtp ${route.mailbox} (${route.address})`;
  }
}

export function mailRow(m: QueuedMail): MailRow {
  const e = m.envelope;
  return {
    id: e.id,
    from: e.from || '<>',
    receivedAt: new Date(e.receivedAt).toISOString(),
    size: m.size,
    hold: m.state.hold,
    tag: e.tag,
    user: e.user,
    recipients: e.recipients.map((r, i) => {
      const s = m.state.recipients[i];
      return {
        rcpt: r.rcpt,
        ...(r.also?.length ? { also: r.also } : {}),
        route: describeRoute(r.route),
        status: s.status,
        attempts: s.attempts,
        nextAttemptAt: s.nextAttemptAt ? new Date(s.nextAttemptAt).toISOString() : undefined,
        lastError: s.lastError,
        ...(s.waiting && s.status === 'pending' ? { waiting: s.waiting } : {}),
      };
    }),
  };
}

export interface AdminHooks {
  /** Wakes the scheduler for one mail or all (flush); absent offline. */
  flush?(id?: string): void;
}

export async function runAdmin(store: QueueStore, req: AdminRequest, hooks: AdminHooks = {}): Promise<AdminResponse> {
  const need = (id: string) => {
    const m = store.get(id);
    if (!m) throw new Error(`no mail ${id} in the queue`);
    return m;
  };
  try {
    switch (req.op) {
      case 'ls':
        return { ok: true, mails: store.list().sort((a, b) => a.envelope.receivedAt - b.envelope.receivedAt).map(mailRow) };
      case 'show':
        return { ok: true, mail: mailRow(need(req.id)) };
      case 'rm':
        need(req.id);
        await store.remove(req.id);
        return { ok: true, message: `removed ${req.id}` };
      case 'hold':
      case 'release': {
        const m = need(req.id);
        await store.saveState(req.id, { ...m.state, hold: req.op === 'hold' });
        if (req.op === 'release') hooks.flush?.(req.id);
        return { ok: true, message: `${req.op === 'hold' ? 'held' : 'released'} ${req.id}` };
      }
      case 'flush': {
        const mails = req.id ? [need(req.id)] : store.list();
        for (const m of mails) {
          const recipients = m.state.recipients.map((r) => (r.status === 'pending' ? { ...r, nextAttemptAt: undefined, waiting: undefined } : r));
          await store.saveState(m.envelope.id, { ...m.state, recipients });
        }
        hooks.flush?.(req.id);
        return { ok: true, message: `scheduled ${mails.length} mail(s) for immediate delivery` };
      }
    }
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
