// Shared option parsing for subcommands that read a relay config.
import { parseArgs } from 'node:util';

export interface ConfigArgs {
  config: string;
  sets: string[];
  json: boolean;
  /** `kubemta relay --drain`: deliver what is queued, then exit (relay/drain.ts). */
  drain: boolean;
  positionals: string[];
}

export function configArgs(argv: string[]): ConfigArgs {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      set: { type: 'string', multiple: true },
      json: { type: 'boolean', default: false },
      drain: { type: 'boolean', default: false },
    },
  });
  if (!values.config) throw new Error('--config FILE is required');
  return { config: values.config, sets: values.set ?? [], json: !!values.json, drain: !!values.drain, positionals };
}
