// `kubemta import`'s work, without I/O on stdout: smtpd.conf text → kubemta objects (MailServer first,
// then PkiCerts, Listeners, MailDomains with their VirtualUsers, and the Secrets they name) and findings.
// Every kubemta object is checked with the operator's own validation (validateObject) before it is
// returned, so what prints is what the operator accepts.
import { basename } from 'node:path';
import { validateObject } from '../api/validate.ts';
import { Ctx, type Emitted, type ImportOptions } from './context.ts';
import { impliedHostname, listenersToCrs } from './crs-listeners.ts';
import { rulesToCrs } from './crs-rules.ts';
import { Findings, ImportError, type Finding } from './findings.ts';
import { srsOutbound } from './outbound.ts';
import { parseSmtpdConf } from './parse.ts';
import { TableReader } from './makemap-tables.ts';

export type { ImportOptions } from './context.ts';

export interface ImportResult {
  server: string;
  docs: Emitted[];
  findings: Finding[];
}

function mailServerSpec(ctx: Ctx, hostname: string, rules: ReturnType<typeof rulesToCrs>): Record<string, unknown> {
  const c = ctx.conf;
  const { relayFrom, ...outbound } = rules.outbound;
  const limits = {
    ...(c.maxMessageBytes ? { maxMessageBytes: c.maxMessageBytes.value } : {}),
    ...(c.maxRecipients ? { maxRecipients: c.maxRecipients.value } : {}),
    ...(c.queueTtlSeconds || rules.queueLifetimeSeconds ? { queueLifetimeSeconds: c.queueTtlSeconds?.value ?? rules.queueLifetimeSeconds } : {}),
  };
  return {
    hostname,
    outbound: {
      ...(c.mtaFamily ? { family: c.mtaFamily.family } : {}),
      ...outbound,
      relayFrom: {
        authenticated: relayFrom.authenticated,
        ...(relayFrom.tags?.length ? { tags: relayFrom.tags } : {}),
        ...(relayFrom.networks?.length ? { networks: relayFrom.networks } : {}),
      },
    },
    ...(rules.local ? { local: rules.local } : {}),
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(c.subaddressDelimiter ? { subaddressDelimiter: c.subaddressDelimiter.value } : {}),
  };
}

/** Parses, reads the tables, builds and validates the objects. Throws ImportSyntaxError or ImportError. */
export function importSmtpdConf(text: string, configPath: string, opts: ImportOptions): ImportResult {
  const name = basename(configPath);
  const findings = new Findings();
  const conf = parseSmtpdConf(text, name, findings);
  const ctx = new Ctx(conf, new TableReader(conf, opts.tablesDir, name), findings, opts, name);

  let hostname = opts.hostname ?? impliedHostname(ctx);
  if (!hostname) {
    hostname = 'localhost';
    findings.changed({ line: 1 }, 'hostname', 'smtpd.conf names none (OpenSMTPD takes the machine\'s): set MailServer spec.hostname, or import with --hostname');
  }
  const server = ctx.name('MailServer', opts.name ?? hostname.split('.')[0]);
  const serverDoc = ctx.emit('MailServer', server, { spec: {} });
  if (!conf.listeners.length) findings.changed({ line: 1 }, 'listen', 'no listen statement: OpenSMTPD then takes mail from the local enqueuer only; a MailServer needs a Listener (add one)');
  listenersToCrs(ctx, server, hostname);
  const rules = rulesToCrs(ctx, server);
  const srs = srsOutbound(ctx, server);
  if (srs) rules.outbound.srs = srs;
  serverDoc.spec = mailServerSpec(ctx, hostname, rules);

  // MailServer, PkiCerts, Secrets, Listeners, then each MailDomain with its VirtualUsers (stable)
  const rank: Record<string, number> = { MailServer: 0, PkiCert: 1, Secret: 2, Listener: 3 };
  ctx.docs.sort((a, b) => (rank[a.doc.kind] ?? 4) - (rank[b.doc.kind] ?? 4));
  const problems: string[] = [];
  for (const { doc } of ctx.docs) {
    if (doc.kind === 'Secret') continue;
    const v = validateObject(structuredClone(doc));
    if (!v.ok) problems.push(...v.problems.map((p) => `${doc.kind}/${doc.metadata.name}: ${p}`));
  }
  if (problems.length) throw new ImportError(`the imported objects do not validate:\n  ${problems.join('\n  ')}`);
  return { server, docs: ctx.docs, findings: findings.sorted() };
}
