// The scheduler decides what is due (new mail, retries after backoff) and hands recipients to delivery
// agents by route kind. Agents report outcomes; only the scheduler changes a mail's state, through the
// queue store, and a mail leaves the queue only when every recipient is delivered or failed for good.
import type { Readable } from 'node:stream';
import type { QueuedMail } from '../queue/fs.ts';
import type { RecipientRoute, RecipientState, Waiting } from '../queue/envelope.ts';
import type { Relay } from '../runtime.ts';
import { DueIndex } from './due.ts';
import { afterDeferral, delayWarningDue } from './expiry.ts';

export interface DeliveryOutcome {
  /** Index into envelope.recipients */
  index: number;
  result: 'delivered' | 'deferred' | 'failed';
  /** The remote reply or local error, for logs, `queue ls` and bounces. */
  detail: string;
  /** Deferred: not before this time (ms since the epoch), whatever the backoff says (a paused destination, greylisting). */
  notBefore?: number;
  /** Deferred: why it waits past the backoff, for `kubemta queue`. */
  waiting?: Waiting;
  /** false: nothing was tried (the destination is paused), so the attempt count stays as it was. */
  attempted?: boolean;
}

export interface DeliveryAgent {
  readonly name: string;
  deliver(mail: QueuedMail, indexes: number[], content: () => Readable): Promise<DeliveryOutcome[]>;
  /** Releases what the agent keeps between mails (pooled connections); called once on shutdown. */
  close?(): Promise<void>;
  /** Forgets the pauses of throttled destinations: an operator flushed the whole queue. */
  resume?(): void;
}

export type Agents = Partial<Record<RecipientRoute['kind'], DeliveryAgent>>;

/** Called once a mail has recipients that failed for good (bounce generation plugs in here). */
export type FailureHandler = (mail: QueuedMail, failed: number[]) => Promise<void>;

/** Called once per mail when recipients are still pending past outbound.delayWarningSeconds. */
export type DelayHandler = (mail: QueuedMail, pending: number[]) => Promise<void>;

export class Scheduler {
  private readonly relay: Relay;
  private readonly agents: Agents;
  private readonly inFlight = new Set<string>();
  private readonly due = new DueIndex();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  private readonly active = new Set<Promise<void>>();
  maxInFlight = 200;
  private readonly onFailures: FailureHandler;
  private readonly onDelayed: DelayHandler;

  /** `notices`: what happens when recipients fail for good or wait too long (bounces and delay warnings). */
  constructor(relay: Relay, agents: Agents, notices: { onFailures?: FailureHandler; onDelayed?: DelayHandler } = {}) {
    this.relay = relay;
    this.agents = agents;
    this.onFailures = notices.onFailures ?? (async () => {});
    this.onDelayed = notices.onDelayed ?? (async () => {});
  }

  start(): void {
    for (const mail of this.relay.queue.list()) this.track(mail);
    this.kick();
  }

  enqueue(mail: QueuedMail): void {
    this.due.wake(mail.envelope.id);
    this.kick();
  }

  /** Released, flushed or rescheduled by an operator: look at the mail (or every mail) now. */
  flush(id?: string): void {
    if (!id) for (const a of Object.values(this.agents)) a.resume?.();
    for (const m of id ? [this.relay.queue.get(id)] : this.relay.queue.list()) if (m) this.due.wake(m.envelope.id);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await Promise.allSettled([...this.active]);
    await Promise.allSettled(Object.values(this.agents).map((a) => a.close?.()));
  }

  private kick(): void {
    if (this.stopped || this.running) return;
    this.running = true;
    queueMicrotask(() => {
      this.running = false;
      this.pump();
    });
  }

  private pendingDue(mail: QueuedMail, now: number): number[] {
    const out: number[] = [];
    mail.state.recipients.forEach((r, i) => {
      if (r.status === 'pending' && (r.nextAttemptAt ?? 0) <= now) out.push(i);
    });
    return out;
  }

  /** Files the mail under its next attempt time (or now); a mail with nothing pending is not filed. */
  private track(mail: QueuedMail): void {
    let at = Infinity;
    for (const r of mail.state.recipients) if (r.status === 'pending') at = Math.min(at, r.nextAttemptAt ?? 0);
    if (at === Infinity) return;
    if (at <= Date.now()) this.due.wake(mail.envelope.id);
    else this.due.later(mail.envelope.id, at);
  }

  private pump(): void {
    if (this.stopped) return;
    const now = Date.now();
    if (this.inFlight.size < this.maxInFlight) {
      for (const id of this.due.take(now)) {
        const mail = this.relay.queue.get(id);
        // in flight: looked at again when the attempt ends; held: when released (flush)
        if (!mail || this.inFlight.has(id) || mail.state.hold) continue;
        const due = this.pendingDue(mail, now);
        if (due.length === 0) {
          this.track(mail);
          continue;
        }
        this.inFlight.add(id);
        const p = this.attempt(mail, due).finally(() => {
          this.inFlight.delete(id);
          this.active.delete(p);
          const after = this.relay.queue.get(id);
          if (after) this.track(after);
          this.kick();
        });
        this.active.add(p);
        if (this.inFlight.size >= this.maxInFlight) break;
      }
    }
    clearTimeout(this.timer);
    const nextDue = this.due.nextAt();
    if (nextDue !== Infinity) {
      this.timer = setTimeout(() => this.kick(), Math.max(0, Math.min(nextDue - Date.now(), 2 ** 31 - 1)));
      this.timer.unref();
    }
  }

  private async attempt(mail: QueuedMail, due: number[]): Promise<void> {
    const { queue, log } = this.relay;
    const id = mail.envelope.id;
    const byKind = new Map<RecipientRoute['kind'], number[]>();
    for (const i of due) {
      const kind = mail.envelope.recipients[i].route.kind;
      byKind.set(kind, [...(byKind.get(kind) ?? []), i]);
    }
    const outcomes: DeliveryOutcome[] = [];
    await Promise.all(
      [...byKind].map(async ([kind, indexes]) => {
        const agent = this.agents[kind];
        if (!agent) {
          for (const index of indexes) outcomes.push({ index, result: 'deferred', detail: `no delivery agent for ${kind} routes in this relay` });
          return;
        }
        try {
          outcomes.push(...(await agent.deliver(mail, indexes, () => queue.content(mail))));
        } catch (err) {
          for (const index of indexes) outcomes.push({ index, result: 'deferred', detail: `${agent.name}: ${(err as Error).message}` });
        }
      }),
    );
    if (!queue.get(id)) return; // removed by an operator meanwhile
    const now = Date.now();
    const recipients: RecipientState[] = mail.state.recipients.map((r) => ({ ...r }));
    const failed: number[] = [];
    for (const o of outcomes) {
      const r = recipients[o.index];
      if (o.attempted !== false) r.attempts++;
      r.lastError = o.result === 'delivered' ? undefined : o.detail;
      r.waiting = undefined;
      const route = mail.envelope.recipients[o.index];
      if (o.attempted !== false) this.relay.metrics.deliveries.inc({ agent: route.route.kind, result: o.result });
      const entry = { qid: id, rcpt: route.rcpt, to: route.route.kind === 'local' ? route.route.mailbox : route.route.address, result: o.result, detail: o.detail, attempt: r.attempts };
      const finish = (status: 'delivered' | 'failed') => {
        r.status = status;
        r.doneAt = now;
        r.nextAttemptAt = undefined;
        if (status === 'failed') failed.push(o.index);
      };
      if (o.result === 'delivered') {
        finish('delivered');
        log.info(entry, 'delivered');
      } else if (o.result === 'failed') {
        finish('failed');
        log.warn(entry, 'delivery failed permanently');
      } else {
        const next = afterDeferral(this.relay.snapshot.config.outbound, mail.envelope.receivedAt, r.attempts, o.detail, now, o.notBefore);
        if (next.kind === 'expire') {
          finish('failed');
          r.lastError = next.detail;
          log.warn({ ...entry, detail: next.detail }, 'delivery failed: queue lifetime expired');
        } else {
          r.nextAttemptAt = next.at;
          r.waiting = o.waiting;
          log.info({ ...entry, retryAt: new Date(r.nextAttemptAt).toISOString(), ...(o.waiting ? { waiting: o.waiting.kind } : {}) }, o.attempted === false ? 'delivery postponed' : 'delivery deferred');
        }
      }
    }
    if (failed.length) await this.onFailures({ ...mail, state: { ...mail.state, recipients } }, failed);
    let delayWarned = mail.state.delayWarned;
    const pending = recipients.flatMap((r, i) => (r.status === 'pending' ? [i] : []));
    if (pending.length && delayWarningDue(this.relay.snapshot.config.outbound, mail.envelope.receivedAt, !!delayWarned, now)) {
      await this.onDelayed({ ...mail, state: { ...mail.state, recipients } }, pending);
      delayWarned = true;
    }
    if (recipients.every((r) => r.status !== 'pending')) {
      await queue.remove(id);
      log.info({ qid: id, delivered: recipients.filter((r) => r.status === 'delivered').length, failed: recipients.filter((r) => r.status === 'failed').length }, 'removed from queue');
    } else {
      await queue.saveState(id, { ...mail.state, recipients, delayWarned });
    }
  }
}
