// What the benchmark scripts share: a minimal SMTP client (one reply at a time, all a benchmark client
// needs), the test message, a load loop that times end-of-DATA → 250, and memory/CPU readings of a
// process tree from /proc (PSS from smaps_rollup: shared pages divided among sharers, the fair figure).
import { readdir, readFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';

export class Session {
  private buf = '';
  private waiter: ((line: string) => void) | undefined;
  private readonly sock: Socket;
  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.drain();
    });
    sock.on('error', () => {});
  }
  private drain(): void {
    const m = /^(?:\d{3}-[^\n]*\n)*(\d{3}(?: [^\n]*)?)\r?\n/.exec(this.buf);
    if (m && this.waiter) {
      this.buf = this.buf.slice(m[0].length);
      const w = this.waiter;
      this.waiter = undefined;
      w(m[1]);
    }
  }
  reply(): Promise<string> {
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.drain();
    });
  }
  async cmd(line: string, expect: string): Promise<void> {
    this.sock.write(line);
    const r = await this.reply();
    if (!r.startsWith(expect)) throw new Error(`${line.trim().slice(0, 20)}: ${r}`);
  }
  static async open(port: number, host = '127.0.0.1'): Promise<Session> {
    const sock = connect(port, host);
    await new Promise<void>((res, rej) => sock.once('connect', () => res()).once('error', rej));
    const s = new Session(sock);
    const greeting = await s.reply();
    if (!greeting.startsWith('220')) {
      sock.destroy();
      throw new Error(`greeting: ${greeting}`);
    }
    await s.cmd('EHLO bench.client\r\n', '250');
    return s;
  }
  async close(): Promise<void> {
    await this.cmd('QUIT\r\n', '221').catch(() => {});
    this.sock.destroy();
  }
  destroy(): void {
    this.sock.destroy();
  }
}

export function message(i: number, size: number): string {
  const line = 'x'.repeat(76) + '\r\n';
  const body = line.repeat(Math.max(1, Math.ceil(size / line.length)));
  return `From: <bench@client.test>\r\nTo: <rcpt@dest.test>\r\nSubject: bench ${i}\r\nMessage-ID: <${i}.${Date.now()}@client.test>\r\n\r\n${body}`;
}

export interface LoadResult {
  /** end-of-DATA → 250 of every accepted message, ms, sorted */
  waits: number[];
  errors: number;
  wallS: number;
}

/** MESSAGES mails over SESSIONS concurrent sessions, a new connection per message unless reuse (as smtp-source). */
export async function runLoad(port: number, o: { messages: number; sessions: number; size: number; reuse?: boolean; body?: (i: number) => string }): Promise<LoadResult> {
  const waits: number[] = [];
  let next = 0;
  let errors = 0;
  const t0 = performance.now();
  const worker = async () => {
    let s: Session | undefined;
    while (next < o.messages) {
      const i = next++;
      try {
        s ??= await Session.open(port);
        await s.cmd('MAIL FROM:<bench@client.test>\r\n', '250');
        await s.cmd('RCPT TO:<rcpt@dest.test>\r\n', '250');
        await s.cmd('DATA\r\n', '354');
        const data = (o.body?.(i) ?? message(i, o.size)) + '.\r\n';
        const started = performance.now();
        await s.cmd(data, '250');
        waits.push(performance.now() - started);
        if (!o.reuse) {
          await s.close();
          s = undefined;
        }
      } catch (err) {
        errors++;
        if (errors < 5) process.stderr.write(`session error: ${(err as Error).message}\n`);
        s?.destroy();
        s = undefined;
      }
    }
    await s?.close();
  };
  await Promise.all(Array.from({ length: o.sessions }, worker));
  waits.sort((a, b) => a - b);
  return { waits, errors, wallS: (performance.now() - t0) / 1000 };
}

/** The p-th percentile of sorted values (nearest rank). */
export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

async function children(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const t of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const c = await readFile(`/proc/${pid}/task/${t}/children`, 'utf8').catch(() => '');
    for (const x of c.split(' ')) if (x.trim()) out.push(Number(x));
  }
  return out;
}

/** The pid and every descendant. */
export async function processTree(pid: number): Promise<number[]> {
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(await children(all[i])));
  return all;
}

/** PSS and RSS in MB, summed over the process tree. */
export async function treeMemory(pid: number): Promise<{ pssMb: number; rssMb: number }> {
  let pss = 0;
  let rss = 0;
  for (const p of await processTree(pid)) {
    const roll = await readFile(`/proc/${p}/smaps_rollup`, 'utf8').catch(() => '');
    pss += Number(/^Pss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
    rss += Number(/^Rss:\s+(\d+)/m.exec(roll)?.[1] ?? 0);
  }
  return { pssMb: +(pss / 1024).toFixed(1), rssMb: +(rss / 1024).toFixed(1) };
}

/** user+system CPU seconds of the process tree, including reaped children (Postfix's master reaps its workers). */
export async function treeCpuS(pid: number): Promise<number> {
  let ticks = 0;
  for (const p of await processTree(pid)) {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    if (!stat) continue;
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / 100;
}

/** Samples the tree's PSS every intervalMs until stopped; returns the peak. */
export function pssPeak(pid: number, intervalMs = 100): { stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, (await treeMemory(pid)).pssMb);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}
