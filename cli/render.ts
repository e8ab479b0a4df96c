// `kubemta render -f FILE|DIR …`: the manifests a set of kubemta objects produces, offline, for review and
// GitOps diffs. Problems go to stderr (exit 1); the manifests go to stdout as YAML documents.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as yaml from 'js-yaml';
import { render } from '../operator/render/render.ts';
import { snapshotFromDocuments } from '../operator/render/documents.ts';

function yamlFiles(path: string): string[] {
  if (path === '-') return ['-'];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(path, f));
}

export async function renderCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      filename: { type: 'string', short: 'f', multiple: true },
      namespace: { type: 'string', short: 'n', default: 'default' },
      'config-only': { type: 'boolean', default: false },
    },
  });
  if (!values.filename?.length) throw new Error('-f FILE|DIR is required (repeatable; - reads stdin)');
  // stdin by descriptor: /dev/stdin cannot be opened when stdin is a socket (a child process's pipe)
  const docs = values.filename.flatMap(yamlFiles).flatMap((f) => yaml.loadAll(readFileSync(f === '-' ? 0 : f, 'utf8')));
  const { snapshot, ignored } = snapshotFromDocuments(docs);
  for (const i of ignored) process.stderr.write(`ignored ${i}: not a kubemta object or Secret\n`);
  const out = render(snapshot, { namespace: values.namespace, now: new Date() });
  let failed = false;
  for (const [key, v] of out.verdicts) {
    if (v.ready === false && v.reason !== 'Issuing') {
      failed = true;
      process.stderr.write(`${key}: ${v.reason}: ${v.message}\n`);
    }
    for (const w of v.warnings) process.stderr.write(`${key}: warning: ${w}\n`);
  }
  const docsOut: string[] = [];
  for (const s of out.servers) {
    if (values['config-only']) {
      if (s.configYaml) docsOut.push(`# MailServer ${s.key}: relay.yaml\n${s.configYaml}`);
      continue;
    }
    for (const m of s.manifests) docsOut.push(yaml.dump(m, { lineWidth: 160, noRefs: true }));
  }
  process.stdout.write(docsOut.map((d) => `---\n${d}`).join(''));
  return failed ? 1 : 0;
}
