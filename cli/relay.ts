import { configArgs } from './args.ts';
import { startRelay } from '../relay/main.ts';
import { ConfigError } from '../relay/config/index.ts';

export async function relayCommand(argv: string[]): Promise<number> {
  const args = configArgs(argv);
  try {
    const running = await startRelay(args.config, { sets: args.sets, signals: true, drain: args.drain });
    // a drain ends once the queue is empty (a Job's pod then succeeds); a relay runs until a signal
    if (running.drained) {
      await running.drained;
      return 0;
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`kubemta relay: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  return new Promise<number>(() => {}); // runs until a signal stops it
}
