// The import as YAML documents for `kubectl apply -f -` or a GitOps repository: a header that lists every
// finding (what was left out or changed, with its line and reason), then one document per object, each
// under a comment naming the smtpd.conf line it comes from.
import * as yaml from 'js-yaml';
import { formatFinding } from './findings.ts';
import type { ImportResult } from './import.ts';

export function importYaml(result: ImportResult, configName: string): string {
  const head = [`# kubemta import of ${configName}: MailServer "${result.server}", ${result.docs.length} objects.`];
  const dropped = result.findings.filter((f) => f.kind === 'dropped');
  const changed = result.findings.filter((f) => f.kind === 'changed');
  if (dropped.length) head.push('# Not imported (no kubemta equivalent):', ...dropped.map((f) => `#   ${formatFinding(f, configName)}`));
  if (changed.length) head.push('# Imported with a different meaning:', ...changed.map((f) => `#   ${formatFinding(f, configName)}`));
  if (!result.findings.length) head.push('# Everything in it was imported.');
  if (result.docs.some((d) => d.doc.kind === 'Secret')) head.push('# The Secrets hold password hashes and private keys as found: keep this output as secret as those files.');
  const docs = result.docs.map(({ doc, source }) => `---\n${source ? `# ${source}\n` : ''}${yaml.dump(doc, { lineWidth: 160, noRefs: true })}`);
  return `${head.join('\n')}\n${docs.join('')}`;
}
