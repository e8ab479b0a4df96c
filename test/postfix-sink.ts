// Postfix's smtp-sink as a real next hop for delivery tests: it accepts (or, with `closeWith421`, answers
// 421 and hangs up at a chosen command) and throws mail away. Started with -v, it logs every connect,
// command and disconnect in order on one event loop, so the order of those lines is the order of events
// at the peer: the sessions open at any moment, and (when they do not overlap) the messages of each.
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { freePort } from './postfix.ts';
import { until } from './until.ts';

export const SMTP_SINK = '/usr/sbin/smtp-sink';

export interface SinkEvent {
  /** ms since the epoch, when the line was read */
  at: number;
  kind: 'connect' | 'disconnect' | 'command';
  /** For commands: the command line as smtp-sink logged it (`MAIL FROM:<a@b>`, `.` for the end of DATA). */
  line?: string;
}

export interface SinkSession {
  connectedAt: number;
  closedAt?: number;
  /** Messages ended with `.` while this was the only open session (exact when sessions do not overlap). */
  messages: number;
}

export interface PostfixSink {
  address: string;
  port: number;
  events: SinkEvent[];
  /** The most sessions open at once, optionally only counting up to a time. */
  maxConcurrent(before?: number): number;
  connects(): number[];
  /** Messages received (end of DATA). */
  messages(): number;
  /** Sessions in order; `messages` per session is exact only when no two sessions overlap. */
  sessions(): SinkSession[];
  close(): Promise<void>;
}

export interface PostfixSinkOptions {
  address?: string;
  port?: number;
  /** Commands after which to answer 421 and disconnect (smtp-sink -Q), e.g. ['RCPT'] or ['CONNECT']. */
  closeWith421?: string[];
  /** Seconds to wait before answering each DATA (smtp-sink -w): a slow peer, so mail waits for connections. */
  dataDelaySeconds?: number;
}

export async function startPostfixSink(opts: PostfixSinkOptions = {}): Promise<PostfixSink> {
  const address = opts.address ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const args = ['-v', ...(process.getuid?.() === 0 ? ['-u', 'nobody'] : []), ...(opts.closeWith421?.length ? ['-Q', opts.closeWith421.join(',')] : []), ...(opts.dataDelaySeconds ? ['-w', String(opts.dataDelaySeconds)] : []), `${address}:${port}`, '256'];
  const child: ChildProcess = spawn(SMTP_SINK, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const events: SinkEvent[] = [];
  let buf = '';
  child.stderr!.setEncoding('latin1');
  child.stderr!.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).replace(/^\S*smtp-sink: /, '');
      buf = buf.slice(nl + 1);
      const at = Date.now();
      if (line.startsWith('connect (')) events.push({ at, kind: 'connect' });
      else if (line === 'disconnect') events.push({ at, kind: 'disconnect' });
      else if (/^([A-Z]+\b|\.$)/.test(line)) events.push({ at, kind: 'command', line });
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // ready once a probe session is seen to start (and end); the probe is then forgotten. A sink that never
  // gets ready is stopped here, since no caller holds it to close.
  try {
    await until(`smtp-sink on ${address}:${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`smtp-sink exited with ${child.exitCode}`);
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, address);
        s.once('connect', () => (s.destroy(), resolve()));
        s.once('error', reject);
      });
      return true;
    }, 5000, 50);
    await until('the probe session', () => events.some((e) => e.kind === 'connect'), 5000);
    // smtp-sink logs no disconnect for a session it refused at CONNECT (-Q CONNECT)
    if (!opts.closeWith421?.some((c) => c.toUpperCase() === 'CONNECT')) await until('the probe session to end', () => events.some((e) => e.kind === 'disconnect'), 5000);
  } catch (err) {
    child.kill('SIGKILL');
    await exited;
    throw err;
  }
  events.length = 0;

  const sessions = (): SinkSession[] => {
    const out: SinkSession[] = [];
    const open: SinkSession[] = [];
    for (const e of events) {
      if (e.kind === 'connect') {
        const s = { connectedAt: e.at, messages: 0 };
        out.push(s);
        open.push(s);
      } else if (e.kind === 'disconnect') {
        const s = open.shift();
        if (s) s.closedAt = e.at;
      } else if (e.line === '.' && open.length === 1) open[0].messages++;
    }
    return out;
  };
  return {
    address,
    port,
    events,
    maxConcurrent(before = Infinity) {
      let open = 0;
      let max = 0;
      for (const e of events) {
        if (e.at > before) break;
        if (e.kind === 'connect') max = Math.max(max, ++open);
        else if (e.kind === 'disconnect') open--;
      }
      return max;
    },
    connects: () => events.filter((e) => e.kind === 'connect').map((e) => e.at),
    messages: () => events.filter((e) => e.line === '.').length,
    sessions,
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
