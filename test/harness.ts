// Test building blocks: temp dirs, relays started from real config files (in-process or as a child
// process), and real clients (swaks, Python smtplib, openssl s_client, raw sockets).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { startRelay, type RunningRelay } from '../relay/main.ts';
import { createLogger } from '../relay/ops/log.ts';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const NODE = process.execPath;
export const KUBEMTA = join(ROOT, 'bin', 'kubemta');

export async function tempDir(prefix = 'kubemta-test-'): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A relay config with loopback listeners on free ports, self-signed pki, fast limits; `extra` merges on top. */
export function baseConfig(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    hostname: 'relay.test',
    pki: [
      { name: 'post', cert: 'certs/post.crt', key: 'certs/post.key', hostnames: ['post.example.org'], selfSigned: true },
      { name: 'mail', cert: 'certs/mail.crt', key: 'certs/mail.key', hostnames: ['mail.example.org'], selfSigned: true },
    ],
    tables: {},
    listeners: [{ name: 'plain', address: '127.0.0.1', port: 0, tls: 'none' }],
    queue: { dir: 'queue' },
    http: { address: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    // onward delivery asks a DNS server on loopback where nothing answers: relayed test mail is deferred
    // and stays queued, and no test ever queries the machine's resolver (tests that deliver set their own)
    outbound: { resolver: { servers: ['127.0.0.1:9'], timeoutSeconds: 0.2 } },
    ...extra,
  };
}

export async function writeConfig(dir: string, config: Record<string, unknown>, name = 'relay.yaml'): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, yaml.dump(config));
  return file;
}

export async function startTestRelay(dir: string, config: Record<string, unknown>): Promise<{ relay: RunningRelay; file: string; port: (name: string) => number }> {
  const file = await writeConfig(dir, config);
  const level = (config.log as { level?: string } | undefined)?.level ?? 'silent';
  const relay = await startRelay(file, { logger: createLogger(process.env.KUBEMTA_TEST_LOG ?? level) });
  return {
    relay,
    file,
    port: (name) => {
      const p = relay.ports[name];
      if (p === undefined) throw new Error(`no listener ${name}: ${Object.keys(relay.ports).join(', ')}`);
      return p;
    },
  };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { timeout: opts.timeoutMs ?? 30000, env: opts.env ?? process.env, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout: String(stdout), stderr: String(stderr) });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** swaks against 127.0.0.1:port; returns its transcript (stdout+stderr) and exit code. */
export async function swaks(port: number, args: string[]): Promise<RunResult & { transcript: string }> {
  const r = await run('swaks', ['--server', `127.0.0.1:${port}`, '--timeout', '10', ...args]);
  return { ...r, transcript: r.stdout + r.stderr };
}

export function python(script: string, args: string[] = []): Promise<RunResult> {
  return run('python3', ['-c', script, ...args]);
}

/**
 * A raw SMTP conversation: sends each step's bytes exactly as given and collects the reply that follows.
 * `expectReplies` per step: how many replies to wait for (default 1).
 */
export class RawSmtp {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  /** The server's first reply (220, or the refusal of the session). */
  greeting = '';
  private readonly sock: Socket;

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => {});
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Connected to 127.0.0.1:port (from `localAddress`, another loopback address, when given), the greeting not read yet. */
  static async connect(port: number, localAddress?: string): Promise<RawSmtp> {
    const sock = connect({ port, host: '127.0.0.1', localAddress });
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('error', reject);
    });
    return new RawSmtp(sock);
  }

  /** Connects (see `connect`) and reads the greeting into `greeting`. */
  static async open(port: number, localAddress?: string): Promise<RawSmtp> {
    const c = await RawSmtp.connect(port, localAddress);
    c.greeting = await c.reply();
    return c;
  }

  send(data: string | Buffer): void {
    this.sock.write(data);
  }

  /** The next complete reply (possibly multi-line), or '' if the connection closed first. */
  async reply(timeoutMs = 5000): Promise<string> {
    const r = await this.next(timeoutMs);
    if (r === 'none') throw new Error(`no reply within ${timeoutMs} ms; buffer: ${JSON.stringify(this.buf)}`);
    return r === 'closed' ? '' : r;
  }

  /** The next complete reply, `closed` if the connection closed first, `none` if none came in time. */
  async next(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const m = /^(?:\d{3}-[^\n]*\n)*\d{3}(?: [^\n]*)?\r?\n/.exec(this.buf);
      if (m) {
        this.buf = this.buf.slice(m[0].length);
        return m[0].trimEnd();
      }
      if (this.closed) return 'closed';
      if (Date.now() > deadline) return 'none';
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async command(line: string): Promise<string> {
    this.send(line + '\r\n');
    return this.reply();
  }

  end(): void {
    this.sock.destroy();
  }

  /**
   * Takes over the socket after the server's 220 to STARTTLS: the TLS handshake runs on it, and what the
   * server sends inside the TLS session collects in `read()`.
   */
  async upgrade(servername: string): Promise<{ tls: TLSSocket; read: () => string }> {
    this.sock.removeAllListeners('data');
    const tls = tlsConnect({ socket: this.sock, rejectUnauthorized: false, servername });
    await new Promise<void>((r) => tls.once('secureConnect', () => r()));
    let buf = '';
    tls.setEncoding('utf8');
    tls.on('data', (d: string) => (buf += d));
    return { tls, read: () => buf };
  }
}

/** Resolves once the child has exited, also when it already has (a late 'exit' listener would wait forever). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Kills a relay child a test started (if it still runs) and waits for its exit; for `after` hooks, safe to call twice. */
export async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child) return;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await exited(child);
}

// relays started as children die with the test process, also when a test failed before its cleanup ran
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Starts `kubemta relay` as a child process (optionally under a wrapper such as strace) and waits until it logs that every listener is up. */
export async function spawnRelay(file: string, sets: string[] = [], wrapper: string[] = []): Promise<{ child: ChildProcess; ports: Record<string, number>; log: () => string }> {
  // `wrapper`: a command the relay runs under (strace), whose last argument is followed by the relay's
  const argv = [...wrapper, KUBEMTA, 'relay', '--config', file, ...sets.flatMap((s) => ['--set', s])];
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  const ports: Record<string, number> = {};
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    for (const line of out.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const ev = JSON.parse(line) as { msg?: string; listener?: string; port?: number };
        if (ev.msg === 'listening' && ev.listener && ev.port) ports[ev.listener] = ev.port;
        if (ev.msg === 'relay ready') return { child, ports, log: () => out };
      } catch {
        // partial line
      }
    }
    if (child.exitCode !== null) throw new Error(`relay exited early: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`relay did not start: ${out}`);
}

/** Open file descriptors of a process (Linux: the entries of /proc/<pid>/fd). */
export async function openFds(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/fd`)).length;
}
