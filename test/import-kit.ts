// Test support for the import: fixture paths, importing a fixture, comparing object sets up to names
// (references replaced by what they point at, schema defaults filled in), and running what they render.
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { validateObject } from '../operator/api/validate.ts';
import { snapshotFromDocuments } from '../operator/render/documents.ts';
import { render, type ServerRender } from '../operator/render/render.ts';
import { importSmtpdConf, type ImportOptions, type ImportResult } from '../operator/import/import.ts';

export const FIXTURES = new URL('./fixtures/smtpd/', import.meta.url).pathname;

export function importFixture(rel: string, opts: Partial<ImportOptions> = {}): ImportResult {
  const file = join(FIXTURES, rel);
  return importSmtpdConf(readFileSync(file, 'utf8'), file, { tablesDir: join(file, '..'), ...opts });
}

/**
 * A relay config made runnable here: pki self-signed under `dir`, listeners on loopback with free ports,
 * queue and mail store under `dir`, outbound DNS on a dead port (relayed mail stays queued).
 */
export function localize(config: Record<string, any>, dir: string): Record<string, unknown> { // eslint-disable-line @typescript-eslint/no-explicit-any
  for (const p of config.pki ?? []) Object.assign(p, { cert: join(dir, 'pki', `${p.name}.crt`), key: join(dir, 'pki', `${p.name}.key`), selfSigned: true });
  for (const l of config.listeners) Object.assign(l, { address: '127.0.0.1', port: 0 });
  Object.assign(config, { mailStore: join(dir, 'mail'), queue: { dir: join(dir, 'queue') }, http: { address: '127.0.0.1', port: 0 }, log: { level: 'silent' } });
  config.outbound = { ...config.outbound, resolver: { servers: ['127.0.0.1:9'], timeoutSeconds: 0.2 } };
  return config;
}

/** A rendered relay config made runnable here (localize), its tables written from the table Secrets. */
export async function localRelayConfig(server: ServerRender, dir: string): Promise<Record<string, unknown>> {
  const config = structuredClone(server.config!) as unknown as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  await mkdir(join(dir, 'tables'), { recursive: true });
  for (const m of server.manifests) {
    if (m.kind !== 'Secret' || !/-tables-\d+$/.test(m.metadata.name)) continue;
    for (const [name, b64] of Object.entries((m as unknown as { data: Record<string, string> }).data)) {
      await writeFile(join(dir, 'tables', name), Buffer.from(b64, 'base64'));
    }
  }
  for (const t of Object.values(config.tables) as { file: string }[]) t.file = join(dir, 'tables', basename(t.file));
  return localize(config, dir);
}

/** Renders imported (or hand-written) objects offline, as `kubemta render -f` does. */
export function renderDocs(docs: unknown[]): { servers: ServerRender[]; problems: string[] } {
  const out = render(snapshotFromDocuments(docs).snapshot, { namespace: 'default', now: new Date() });
  const problems = [...out.verdicts].filter(([, v]) => v.ready === false && v.reason !== 'Issuing').map(([k, v]) => `${k}: ${v.reason}: ${v.message}`);
  return { servers: out.servers, problems };
}

type Obj = { kind: string; metadata: { name: string }; spec?: Record<string, unknown>; stringData?: Record<string, string> };

/**
 * Each kubemta object as `Kind <canonical spec>`, names gone: a MailDomain reference becomes that
 * domain's list, a PkiCert reference its hostnames, a credentials Secret reference its content.
 */
export function canonical(docs: Obj[]): string[] {
  const filled = docs.map((d) => {
    if (d.kind === 'Secret') return d;
    const copy = structuredClone(d);
    const v = validateObject(copy);
    if (!v.ok) throw new Error(`${d.kind}/${d.metadata.name}: ${v.problems.join('; ')}`);
    return copy;
  });
  const byName = (kind: string, name: string) => filled.find((d) => d.kind === kind && d.metadata.name === name);
  const replace = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(replace);
    if (!value || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const name = (v as { name?: string } | undefined)?.name;
      if (k === 'mailServerRef') continue;
      else if (k === 'mailDomainRef') out.domains = byName('MailDomain', name!)?.spec?.domains;
      else if (k === 'pkiCertRef') out.pki = byName('PkiCert', name!)?.spec?.hostnames;
      else if (k === 'credentialsSecretRef') out.credentials = byName('Secret', name!)?.stringData?.credentials?.trim();
      else out[k] = replace(v);
    }
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
  };
  return filled
    .filter((d) => d.kind !== 'Secret')
    .map((d) => `${d.kind} ${JSON.stringify(replace(d.spec))}`)
    .sort();
}
