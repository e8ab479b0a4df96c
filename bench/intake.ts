// Intake benchmark (`npm run bench:intake`): how fast the relay accepts mail with fsync on, and how long a
// client waits from the end of DATA to the 250. A relay child process (bench/relay.ts, intake only: mail
// is queued, never delivered) on a queue under /var/tmp (a real disk: fsync must cost what it costs);
// SESSIONS concurrent SMTP sessions, one new connection per message as smtp-source does (REUSE=1 keeps
// sessions open). Env: MESSAGES (5000), SESSIONS (20), SIZE (2048 bytes of body), REUSE (0), CHECKS (none;
// `auth`: intake authentication against a DNS server on loopback, every message DKIM-signed; `filter`: a
// private rspamd (test/rspamd.ts); `auth,filter`: both).
// Prints one line and a JSON object.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { startDns, type TestDns } from '../test/dns-server.ts';
import { startRspamd, type TestRspamd } from '../test/rspamd.ts';
import { message, percentile, runLoad, Session } from './smtp-client.ts';

const MESSAGES = Number(process.env.MESSAGES ?? 5000);
const SESSIONS = Number(process.env.SESSIONS ?? 20);
const SIZE = Number(process.env.SIZE ?? 2048);
const REUSE = process.env.REUSE === '1';
const CHECKS = new Set((process.env.CHECKS ?? '').split(',').filter(Boolean));
const here = new URL('.', import.meta.url).pathname;

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

function procStat(pid: number): Promise<{ cpuS: number; hwmMb: number }> {
  return Promise.all([readFile(`/proc/${pid}/stat`, 'utf8'), readFile(`/proc/${pid}/status`, 'utf8')]).then(([stat, status]) => {
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return { cpuS: ticks / 100, hwmMb: hwm / 1024 };
  });
}

/** With CHECKS=auth: every message DKIM-signed (before the clock starts), its domain's records served on loopback. */
async function authSetup(): Promise<{ dns: TestDns; sign: (raw: string) => Promise<string> }> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
  const dns = await startDns({
    'client.test': { txt: ['v=spf1 ip4:127.0.0.1 -all'] },
    '_dmarc.client.test': { txt: ['v=DMARC1; p=reject'] },
    'sel._domainkey.client.test': { txt: [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`] },
  });
  const key = { signingDomain: 'client.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  return { dns, sign: async (raw) => (await dkimSign(raw, { ...key, signatureData: [key] })).signatures + raw };
}

const auth = CHECKS.has('auth') ? await authSetup() : undefined;
const rspamd: TestRspamd | undefined = CHECKS.has('filter') ? await startRspamd() : undefined;
const messages = auth ? await Promise.all(Array.from({ length: MESSAGES }, (_, i) => auth.sign(message(i, SIZE)))) : undefined;
const intake = [
  auth ? `authentication: { enabled: true, dmarcReject: reject }` : '',
  rspamd ? `filter: { url: "${rspamd.url}" }` : '',
].filter(Boolean);

const dir = await mkdtemp('/var/tmp/kubemta-intake-');
const port = await freePort();
await writeFile(
  join(dir, 'relay.yaml'),
  [
    'hostname: bench-intake.localdomain',
    `listeners: [{ name: bench, address: 127.0.0.1, port: ${port}, tls: none }]`,
    `queue: { dir: ${join(dir, 'queue')} }`,
    'http: { enabled: false }',
    'log: { level: info }',
    'actions: { sink: { type: relay, smarthost: "smtp://127.0.0.1:9" } }',
    'rules: [{ from: local, for: any, action: sink }]',
    ...(intake.length ? [`intake: { ${intake.join(', ')} }`] : []),
    ...(auth ? [`outbound: { resolver: { servers: ["${auth.dns.server}"] } }`] : []),
    '',
  ].join('\n'),
);
const node = process.execPath;
// the node flags of the shipped launcher (bin/kubemta)
const child = spawn(node, ['--disable-warning=ExperimentalWarning', `--max-semi-space-size=${process.env.KUBEMTA_SEMI_SPACE_MB ?? 2}`, `--heap-growing-percent=${process.env.KUBEMTA_HEAP_GROWING_PERCENT ?? 20}`, join(here, 'relay.ts'), '--config', join(dir, 'relay.yaml')], {
  env: { ...process.env, KUBEMTA_BENCH_INTAKE_ONLY: '1' },
  stdio: ['ignore', 'ignore', 'inherit'],
});
try {
  for (let i = 0; ; i++) {
    try {
      (await Session.open(port)).close();
      break;
    } catch {
      if (i > 200) throw new Error('relay did not start');
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const before = await procStat(child.pid!);
  const { waits, errors, wallS: wall } = await runLoad(port, { messages: MESSAGES, sessions: SESSIONS, size: SIZE, reuse: REUSE, body: messages ? (i) => messages[i] : undefined });
  const after = await procStat(child.pid!);
  const pct = (p: number) => percentile(waits, p);
  const result = {
    date: new Date().toISOString(),
    messages: waits.length,
    errors,
    sessions: SESSIONS,
    bodyBytes: SIZE,
    reuseSessions: REUSE,
    checks: [...CHECKS].join(',') || 'none',
    wallS: +wall.toFixed(2),
    msgsPerS: +(waits.length / wall).toFixed(1),
    endOfDataTo250Ms: { p50: +pct(50).toFixed(2), p99: +pct(99).toFixed(2), max: +pct(100).toFixed(2) },
    relayCpuS: +(after.cpuS - before.cpuS).toFixed(2),
    relayPeakRssMb: +after.hwmMb.toFixed(1),
  };
  console.log(
    `intake: ${result.messages} msgs (${SIZE} B, ${SESSIONS} sessions${REUSE ? ', reused' : ', new connection each'}, checks ${result.checks}) in ${result.wallS} s = ${result.msgsPerS} msg/s; ` +
      `end-of-DATA→250 p50 ${result.endOfDataTo250Ms.p50} ms p99 ${result.endOfDataTo250Ms.p99} ms; relay CPU ${result.relayCpuS} s; peak RSS ${result.relayPeakRssMb} MB; errors ${errors}`,
  );
  console.log(JSON.stringify(result));
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await rm(dir, { recursive: true, force: true });
  await auth?.dns.close();
  await rspamd?.close();
}
