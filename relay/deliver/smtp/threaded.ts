// The SMTP agent on its own thread (outbound.deliveryThread, default off since it cost a second V8 isolate,
// ~50 MB, and ~10% more CPU per mail with no throughput gain in the interleaved bench: bench/RESULTS.md):
// onward delivery (reading the file, dot-stuffing, TLS, DKIM) is a third to a half of what a relayed mail
// costs, so moving it off the main thread can let intake use another core's share. The
// scheduler and the queue stay on the main thread; this proxy forwards each delivery and its outcomes.
import { Worker } from 'node:worker_threads';
import type { Readable } from 'node:stream';
import type { QueuedMail } from '../../queue/fs.ts';
import type { Relay } from '../../runtime.ts';
import type { DeliveryAgent, DeliveryOutcome } from '../../scheduler/scheduler.ts';
import type { FromThread, ToThread } from './thread-protocol.ts';
import { SmtpAgent } from './agent.ts';

interface Pending {
  resolve: (o: DeliveryOutcome[]) => void;
  reject: (e: Error) => void;
}

export class ThreadedSmtpAgent implements DeliveryAgent {
  readonly name = 'smtp';
  private readonly relay: Relay;
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private sentConfig = '';
  private closing: Promise<void> | undefined;

  constructor(relay: Relay) {
    this.relay = relay;
  }

  private start(): Worker {
    const config = this.relay.snapshot.config;
    this.sentConfig = JSON.stringify(config);
    const w = new Worker(new URL('./worker.ts', import.meta.url), {
      workerData: { config, level: this.relay.log.level },
    });
    w.on('message', (m: FromThread) => {
      if (m.type === 'closed') return;
      if (m.type === 'dane') return void this.relay.metrics.dane.inc({ result: m.result });
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.type === 'done') p.resolve(m.outcomes);
      else p.reject(new Error(m.message));
    });
    const fail = (why: string) => {
      if (this.worker === w) this.worker = undefined;
      for (const [id, p] of this.pending) {
        p.reject(new Error(`delivery thread ${why}`));
        this.pending.delete(id);
      }
    };
    w.on('error', (err) => {
      this.relay.log.error({ err: err.message }, 'delivery thread failed; its deliveries are deferred and a new thread starts');
      fail(`failed: ${err.message}`);
    });
    w.on('exit', (code) => fail(`exited (${code})`));
    this.worker = w;
    return w;
  }

  private post(msg: ToThread): void {
    (this.worker ?? this.start()).postMessage(msg);
  }

  deliver(mail: QueuedMail, indexes: number[], _content: () => Readable): Promise<DeliveryOutcome[]> {
    if (this.closing) return Promise.reject(new Error('shutting down'));
    const w = this.worker ?? this.start();
    // the config as it is now (a reload replaces it; tests change it in place): sent only when it changed
    const config = JSON.stringify(this.relay.snapshot.config);
    if (config !== this.sentConfig) {
      this.sentConfig = config;
      w.postMessage({ type: 'config', config: this.relay.snapshot.config } satisfies ToThread);
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.post({ type: 'deliver', id, mail: { envelope: mail.envelope, state: mail.state, headerBytes: mail.headerBytes, size: mail.size, content: mail.content }, indexes, file: this.relay.queue.messageFile(mail.envelope.id) });
    });
  }

  resume(): void {
    this.worker?.postMessage({ type: 'resume' } satisfies ToThread);
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      const w = this.worker;
      if (!w) return;
      const exited = new Promise<void>((r) => w.once('exit', () => r()));
      w.postMessage({ type: 'close' } satisfies ToThread);
      const timer = setTimeout(() => void w.terminate(), 5000);
      await exited;
      clearTimeout(timer);
    })();
    return this.closing;
  }
}

/** The agent for `relay` routes: on its own thread unless outbound.deliveryThread is false. */
export function smtpAgent(relay: Relay): DeliveryAgent {
  return relay.snapshot.config.outbound.deliveryThread ? new ThreadedSmtpAgent(relay) : new SmtpAgent(relay);
}
