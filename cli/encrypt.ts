// `kubemta encrypt`: smtpctl encrypt's job. The password comes from the argument, from stdin (piped), or
// from a prompt without echo on a terminal; the bcrypt hash goes to stdout, for `user<TAB>hash` lines.
import { hashPassword } from '../relay/auth/hash.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

function prompt(question: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const stdin = process.stdin;
    process.stderr.write(question);
    stdin.setRawMode(true);
    stdin.resume();
    stdin.setEncoding('utf8');
    let out = '';
    const onData = (ch: string) => {
      for (const c of ch) {
        if (c === '\r' || c === '\n') {
          stdin.setRawMode(false);
          stdin.pause();
          stdin.removeListener('data', onData);
          process.stderr.write('\n');
          return resolve(out);
        }
        if (c === '\u0003') {
          stdin.setRawMode(false);
          return reject(new Error('interrupted'));
        }
        if (c === '\u007f' || c === '\b') out = out.slice(0, -1);
        else out += c;
      }
    };
    stdin.on('data', onData);
  });
}

export async function encryptCommand(argv: string[]): Promise<number> {
  let password = argv[0];
  if (password === undefined) password = process.stdin.isTTY ? await prompt('Password: ') : await readStdin();
  if (!password) {
    process.stderr.write('kubemta encrypt: empty password\n');
    return 1;
  }
  process.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
