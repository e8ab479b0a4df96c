import { configArgs } from './args.ts';
import { ConfigError, loadConfig } from '../relay/config/index.ts';
import { TableError } from '../relay/lookup/tables.ts';
import { buildSnapshot } from '../relay/main.ts';

export async function checkCommand(argv: string[]): Promise<number> {
  const args = configArgs(argv);
  try {
    const loaded = loadConfig(args.config, args.sets);
    // the same loading the relay does at start (certificates, tables, policy), writing nothing
    await buildSnapshot(loaded, { create: false });
    process.stdout.write(`${loaded.file}: ok (${loaded.config.listeners.length} listener(s), ${Object.keys(loaded.config.tables).length} table(s))\n`);
    return 0;
  } catch (err) {
    const problems = err instanceof ConfigError || err instanceof TableError ? err.problems : [(err as Error).message];
    for (const p of problems) process.stdout.write(`${p}\n`);
    return 1;
  }
}
