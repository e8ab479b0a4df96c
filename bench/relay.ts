// Starts a relay for the benchmarks exactly like `kubemta relay --config FILE`, with one switch:
// KUBEMTA_BENCH_INTAKE_ONLY=1 (bench/intake.ts) queues mail but never delivers it: the scheduler is not
// told about new mail, so the intake figures carry no delivery work.
import { startRelay } from '../relay/main.ts';

const file = process.argv[process.argv.indexOf('--config') + 1];
if (!file || !process.argv.includes('--config')) {
  process.stderr.write('usage: relay.ts --config FILE\n');
  process.exit(2);
}
const running = await startRelay(file, { signals: true });
if (process.env.KUBEMTA_BENCH_INTAKE_ONLY === '1') running.relay.queue.onCommitted = () => {};
