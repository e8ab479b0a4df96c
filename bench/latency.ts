// Latency under the small workload, side by side: for each MTA (adapters as in ../shared/bench), the
// time from the end of DATA (the client's "." line) to the 250, for MESSAGES mails of SIZE bytes over
// SESSIONS concurrent sessions with a new connection per message (the shared harness's `small`, which
// uses smtp-source; smtp-source cannot report per-message latency, so this client is the load and the
// stopwatch). The MTA relays to a Postfix smtp-sink meanwhile, so delivery competes as in the harness.
// Also reports the MTA's CPU per accepted message (user+sys of its process tree) and its peak PSS.
// Runs are interleaved (rep 1 of every MTA, then rep 2, ...).
//   bench/scenario.sh latency [kubemta,postfix]     env: MESSAGES (5000) SESSIONS (20) SIZE (2048) REPS (3)
//   WORKROOT (/var/tmp/mtabench-latency: a real disk), LISTEN_PORT (24125), SINK_PORT (24126)
import { adapterLabel, startMta } from './adapters.ts';
import { percentile, pssPeak, runLoad, Session, treeCpuS } from './smtp-client.ts';

const mtas = (process.argv[2] ?? 'kubemta,postfix').split(',');
const MESSAGES = Number(process.env.MESSAGES ?? 5000);
const SESSIONS = Number(process.env.SESSIONS ?? 20);
const SIZE = Number(process.env.SIZE ?? 2048);
const REPS = Number(process.env.REPS ?? 3);
const WORKROOT = process.env.WORKROOT ?? '/var/tmp/mtabench-latency';
const LISTEN = Number(process.env.LISTEN_PORT ?? 24125);
const SINK = Number(process.env.SINK_PORT ?? 24126);

interface Row {
  mta: string;
  rep: number;
  accepted: number;
  errors: number;
  msgsPerS: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  cpuMsPerMsg: number;
  peakPssMb: number;
}

async function one(mta: string, rep: number): Promise<Row> {
  const m = await startMta(mta, { listen: LISTEN, sink: SINK, workroot: WORKROOT });
  try {
    (await Session.open(LISTEN)).destroy();
    const cpu0 = await treeCpuS(m.pid);
    const peak = pssPeak(m.pid);
    const r = await runLoad(LISTEN, { messages: MESSAGES, sessions: SESSIONS, size: SIZE });
    const cpu1 = await treeCpuS(m.pid);
    const f = (x: number) => +x.toFixed(2);
    return {
      mta,
      rep,
      accepted: r.waits.length,
      errors: r.errors,
      msgsPerS: Math.round(r.waits.length / r.wallS),
      p50: f(percentile(r.waits, 50)),
      p90: f(percentile(r.waits, 90)),
      p99: f(percentile(r.waits, 99)),
      max: f(percentile(r.waits, 100)),
      cpuMsPerMsg: f(((cpu1 - cpu0) * 1000) / Math.max(1, r.waits.length)),
      peakPssMb: await peak.stop(),
    };
  } finally {
    await m.stop();
  }
}

const rows: Row[] = [];
for (let rep = 1; rep <= REPS; rep++) {
  for (const mta of mtas) {
    const row = await one(mta, rep);
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
console.log(`\nlatency, ${new Date().toISOString()}: ${MESSAGES} × ${SIZE} B, ${SESSIONS} sessions, new connection per message; median of ${REPS} (interleaved)`);
console.log('| MTA | accepted msg/s | end-of-DATA→250 p50 ms | p90 ms | p99 ms | max ms | MTA CPU ms/msg (intake+relay) | peak PSS MB | errors |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const mta of mtas) {
  const rs = rows.filter((r) => r.mta === mta);
  const med = (k: keyof Row) => median(rs.map((r) => r[k] as number));
  console.log(`| ${adapterLabel(mta)} | ${med('msgsPerS')} | ${med('p50')} | ${med('p90')} | ${med('p99')} | ${med('max')} | ${med('cpuMsPerMsg')} | ${med('peakPssMb')} | ${rs.reduce((n, r) => n + r.errors, 0)} |`);
}
