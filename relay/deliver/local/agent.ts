// The local delivery agent (route kind `local`): each recipient's copy goes into its mailbox under the
// mail store, as the route's action says — `mbox` (mbox.ts) or `maildir` (maildir.ts) — with its own
// trace fields. Recipients of one mail are delivered in parallel; each gets its own outcome.
import type { Readable } from 'node:stream';
import type { Config } from '../../config/schema.ts';
import type { Logger } from '../../ops/log.ts';
import type { QueuedMail } from '../../queue/fs.ts';
import type { DeliveryAgent, DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { fromLine, localLines, traceFields } from './copy.ts';
import { mailboxPath } from './mailbox.ts';
import { MaildirWriter } from './maildir.ts';
import { MboxWriter } from './mbox.ts';
import { localFailure } from './outcome.ts';

export interface LocalHost {
  snapshot: { config: Config };
  log: Logger;
}

export interface LocalAgentOptions {
  /** How long a delivery waits for an mbox lock before it is deferred (Postfix: 20 attempts, 1 s apart). */
  lockTimeoutMs: number;
  /** A dotlock older than this is a dead writer's and is broken (Postfix's stale_lock_time). */
  staleLockMs: number;
  lockPollMs: number;
  /**
   * Appends to one mbox that share a lock and an fsync, at most. It also bounds the copies a crash can
   * deliver twice: a group is in the mbox before the queue records it, so a kill -9 in between delivers
   * those again after restart (at least once). 100 gave 56–68 duplicates per kill in a burst; 16 keeps
   * most of the fsync saving.
   */
  maxGroup: number;
}

export const LOCAL_AGENT_DEFAULTS: LocalAgentOptions = { lockTimeoutMs: 20_000, staleLockMs: 500_000, lockPollMs: 100, maxGroup: 16 };

export class LocalAgent implements DeliveryAgent {
  readonly name = 'local';
  private readonly host: LocalHost;
  private readonly opts: LocalAgentOptions;
  private readonly mbox: MboxWriter;
  private readonly maildir = new MaildirWriter();

  constructor(host: LocalHost, opts: Partial<LocalAgentOptions> = {}) {
    this.host = host;
    this.opts = { ...LOCAL_AGENT_DEFAULTS, ...opts };
    this.mbox = new MboxWriter({ staleLockMs: this.opts.staleLockMs, lockPollMs: this.opts.lockPollMs, maxGroup: this.opts.maxGroup });
  }

  deliver(mail: QueuedMail, indexes: number[], content: () => Readable): Promise<DeliveryOutcome[]> {
    const log = this.host.log.child({ qid: mail.envelope.id, agent: 'local' });
    return Promise.all(indexes.map((index) => this.deliverOne(mail, index, content, log)));
  }

  private async deliverOne(mail: QueuedMail, index: number, content: () => Readable, log: Logger): Promise<DeliveryOutcome> {
    const { rcpt, route } = mail.envelope.recipients[index];
    if (route.kind !== 'local') return { index, result: 'deferred', detail: `4.3.5 a ${route.kind} route reached the local agent` };
    const config = this.host.snapshot.config;
    const action = config.actions[route.action];
    if (action?.type !== 'mbox' && action?.type !== 'maildir') {
      return { index, result: 'deferred', detail: `4.3.5 action ${JSON.stringify(route.action)} is not an mbox or maildir action in this configuration` };
    }
    const where = `${action.type} ${JSON.stringify(route.mailbox)}`;
    const path = mailboxPath(config.mailStore, action.type, route.mailbox);
    if (path.kind === 'invalid') return { index, result: 'failed', detail: `5.1.3 ${path.reason}` };
    const trace = traceFields({ from: mail.envelope.from, rcpt, address: route.address });
    const started = Date.now();
    try {
      let stored: string;
      if (action.type === 'mbox') {
        const bytes = await this.mbox.append(path.path, {
          head: fromLine(mail.envelope.from, new Date()) + trace,
          body: () => localLines(content(), true),
          deadline: started + this.opts.lockTimeoutMs,
        });
        stored = `${bytes} bytes`;
      } else {
        stored = await this.maildir.deliver(path.path, () => withTrace(trace, localLines(content(), false)));
      }
      log.debug({ mailbox: route.mailbox, format: action.type, stored, ms: Date.now() - started }, 'stored in a local mailbox');
      return { index, result: 'delivered', detail: `${where}: ${stored}` };
    } catch (err) {
      return localFailure(index, where, err);
    }
  }
}

async function* withTrace(trace: string, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield Buffer.from(trace);
  yield* body;
}
