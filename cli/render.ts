// `kubemta render -f FILE|DIR …`: the manifests a set of kubemta objects produces, offline, for review and
// GitOps diffs. Problems go to stderr (exit 1); the manifests go to stdout as YAML documents, or with
// `--dns` each MailDomain's DNS records in zone-file syntax (what status.dnsRecords will say).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as yaml from 'js-yaml';
import { render } from '../operator/render/render.ts';
import { snapshotFromDocuments } from '../operator/render/documents.ts';
import { zoneLines } from '../operator/render/dns-records.ts';
import type { ServerRender } from '../operator/render/render.ts';

/** One MailDomain's records as a zone-file block: what to publish, the MTA-STS policy to serve, what is left out. */
function dnsBlock(d: ServerRender['dns'][number], namespace: string): string[] {
  const name = `${d.domain.metadata.namespace ?? namespace}/${d.domain.metadata.name}`;
  const lines = [`; MailDomain ${name}: DNS records (status.dnsRecords)`, ...zoneLines(d.records, d.domain.spec.dns.ttl)];
  for (const n of d.notes) lines.push(`; note: ${n}`);
  const policy = d.mtaStsPolicy?.trimEnd().split('\n');
  if (policy && d.records.length) lines.push('; MTA-STS policy to serve at https://mta-sts.<domain>/.well-known/mta-sts.txt:', ...policy.map((l) => `;   ${l}`));
  return lines;
}

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
      dns: { type: 'boolean', default: false },
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
  const zone = out.servers.flatMap((s) => s.dns.map((d) => dnsBlock(d, values.namespace!).join('\n') + '\n'));
  if (values.dns) {
    process.stdout.write(zone.join('\n'));
    return failed ? 1 : 0;
  }
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
