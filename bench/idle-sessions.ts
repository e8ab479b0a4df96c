// Memory of an idle relay and of one holding many idle sessions: starts the MTA (kubemta's adapter by
// default, with the session caps raised so SESSIONS may come from loopback), samples its PSS idle, opens
// SESSIONS sessions that each get the greeting and EHLO and then hold, samples PSS with all of them open,
// closes them all (QUIT) and samples again once the MTA has seen them go: what it does not give back.
// PSS of the whole process tree from /proc/PID/smaps_rollup.
//   bench/scenario.sh idle-sessions [kubemta|ADAPTER]   env: SESSIONS (10000) OPEN_CONCURRENCY (200) SETTLE_S (20: the relay collects within 5 s of a burst's end and V8 returns the pages ~8 s after) REPS (1)
// The client needs SESSIONS file descriptors and the MTA as many (Node raises its soft limit to the hard
// one; check `ulimit -Hn`).
import { readFile } from 'node:fs/promises';
import { adapterLabel, startMta } from './adapters.ts';
import { Session, treeMemory } from './smtp-client.ts';

const mta = process.argv[2] ?? 'kubemta';
const SESSIONS = Number(process.env.SESSIONS ?? 10000);
const OPEN_CONCURRENCY = Number(process.env.OPEN_CONCURRENCY ?? 200);
const SETTLE_S = Number(process.env.SETTLE_S ?? 20);
const REPS = Number(process.env.REPS ?? 1);
const LISTEN = Number(process.env.LISTEN_PORT ?? 24125);
const SINK = Number(process.env.SINK_PORT ?? 24126);
const WORKROOT = process.env.WORKROOT ?? '/var/tmp/mtabench-idle';
const sleep = (s: number) => new Promise((r) => setTimeout(r, s * 1000));

/** Established connections to the listener, as the kernel sees them (the MTA's side). */
async function established(): Promise<number> {
  const hex = `:${LISTEN.toString(16).toUpperCase().padStart(4, '0')}`;
  const tcp = await readFile('/proc/net/tcp', 'utf8');
  return tcp.split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    return f[1]?.endsWith(hex) && f[3] === '01';
  }).length;
}

const extra = `limits: { maxConnections: ${SESSIONS + 100}, maxConnectionsPerClient: ${SESSIONS + 100} }`;
for (let rep = 1; rep <= REPS; rep++) {
  const m = await startMta(mta, { listen: LISTEN, sink: SINK, workroot: WORKROOT, env: { KUBEMTA_EXTRA: extra } });
  try {
    await sleep(SETTLE_S);
    const idle = await treeMemory(m.pid);
    const sessions: Session[] = [];
    let failed = 0;
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: OPEN_CONCURRENCY }, async () => {
        while (next < SESSIONS) {
          next++;
          try {
            sessions.push(await Session.open(LISTEN));
          } catch (err) {
            if (++failed < 5) process.stderr.write(`open: ${(err as Error).message}\n`);
          }
        }
      }),
    );
    const openS = (performance.now() - t0) / 1000;
    const opened = await treeMemory(m.pid);
    await sleep(SETTLE_S);
    const held = await treeMemory(m.pid);
    await Promise.all(sessions.map((s) => s.close()));
    for (let i = 0; i < 600 && (await established()) > 0; i++) await sleep(0.1);
    await sleep(SETTLE_S);
    const closed = await treeMemory(m.pid);
    const row = { mta: adapterLabel(mta), rep, sessions: sessions.length, failed, openS: +openS.toFixed(1), idle, opened, held, closed };
    process.stderr.write(`${JSON.stringify(row)}\n`);
    console.log(
      `| ${row.mta} | ${sessions.length} (${failed} refused) | ${idle.pssMb} | ${held.pssMb} | ${closed.pssMb} | ${(((held.pssMb - idle.pssMb) * 1024) / Math.max(1, sessions.length)).toFixed(1)} |`,
    );
  } finally {
    await m.stop();
  }
}
