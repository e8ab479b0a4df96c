// `kubemta` — one program, thin subcommands; each calls into relay/ or operator/.
import { relayCommand } from './relay.ts';
import { checkCommand } from './check.ts';
import { encryptCommand } from './encrypt.ts';
import { queueCommand } from './queue.ts';

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { run: Command; help: string }> = {
  relay: { run: relayCommand, help: 'relay --config FILE [--set key.path=value …] [--drain]   run the SMTP relay (--drain: no listeners, deliver the queue, exit 0 once it is empty)' },
  check: { run: checkCommand, help: 'check --config FILE [--set …]                 validate a config, list every problem' },
  encrypt: { run: encryptCommand, help: 'encrypt [PASSWORD]                             hash a password for a credentials table (like smtpctl encrypt)' },
  queue: { run: queueCommand, help: 'queue ls|show ID|rm ID|hold ID|release ID|flush [ID] --config FILE [--json]' },
  render: { run: async (a) => (await import('./render.ts')).renderCommand(a), help: 'render -f FILE|DIR … [-n NAMESPACE] [--config-only|--dns]  print the manifests (or DNS records) kubemta objects produce (offline)' },
  import: { run: async (a) => (await import('./import.ts')).importCommand(a), help: 'import smtpd.conf [--tables-dir DIR] [--namespace NS]  print kubemta objects reproducing an OpenSMTPD setup' },
  operator: { run: async (a) => (await import('./operator.ts')).operatorCommand(a), help: 'operator [--namespace NS] [--kubeconfig FILE] [--http-port 8080]   run the Kubernetes operator' },
};

function usage(): string {
  return `usage: kubemta <command> [options]\n\n${Object.values(commands).map((c) => `  kubemta ${c.help}`).join('\n')}\n`;
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '-h' || name === '--help' || name === 'help') {
  process.stdout.write(usage());
  process.exit(name ? 0 : 2);
}
const cmd = commands[name];
if (!cmd) {
  process.stderr.write(`kubemta: unknown command "${name}"\n\n${usage()}`);
  process.exit(2);
}
cmd.run(rest).then(
  (code) => {
    process.exitCode = code;
  },
  (err: Error) => {
    process.stderr.write(`kubemta ${name}: ${err.message}\n`);
    process.exitCode = 1;
  },
);
