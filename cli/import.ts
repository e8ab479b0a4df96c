// `kubemta import smtpd.conf [--tables-dir DIR] [--namespace NS]`: prints the kubemta objects (YAML
// documents) that reproduce an OpenSMTPD setup. What has no equivalent goes to stderr and into the
// output's header, with its line and reason. Exit 0: imported; 1: a table file missing or an object that
// would not validate; 2: a syntax error (file:line:column) or bad arguments.
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { formatFinding, ImportError, ImportSyntaxError } from '../operator/import/findings.ts';
import { importSmtpdConf } from '../operator/import/import.ts';
import { importYaml } from '../operator/import/output.ts';

const USAGE = 'usage: kubemta import smtpd.conf [--tables-dir DIR] [--namespace NS] [--name NAME] [--hostname HOST]\n';

export async function importCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'tables-dir': { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        name: { type: 'string' },
        hostname: { type: 'string' },
      },
    });
  } catch (err) {
    process.stderr.write(`kubemta import: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (positionals.length !== 1) {
    process.stderr.write(USAGE);
    return 2;
  }
  const file = resolve(positionals[0]);
  const name = basename(file);
  try {
    const result = importSmtpdConf(readFileSync(file, 'utf8'), file, {
      tablesDir: resolve(values['tables-dir'] ?? dirname(file)),
      namespace: values.namespace,
      name: values.name,
      hostname: values.hostname,
    });
    for (const f of result.findings) process.stderr.write(`${formatFinding(f, name)}\n`);
    process.stdout.write(importYaml(result, name));
    return 0;
  } catch (err) {
    if (err instanceof ImportSyntaxError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    if (err instanceof ImportError) {
      process.stderr.write(`kubemta import: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
