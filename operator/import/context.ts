// What the CR builders share: the parsed config, its tables, the findings, the names handed out, and
// the documents made so far (each with the config line it comes from, for a comment above it).
import { API_VERSION } from '../api/kind.ts';
import type { Findings } from './findings.ts';
import type { SmtpdConf } from './model.ts';
import { NameSet } from './names.ts';
import type { TableReader } from './makemap-tables.ts';

export interface Doc {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [field: string]: unknown;
}

export interface Emitted {
  doc: Doc;
  /** `smtpd.conf:4 listen on inet4 port 25 …`: where it comes from. */
  source?: string;
}

export interface ImportOptions {
  /** Where table sources, certificates and keys are read (by base name). */
  tablesDir: string;
  namespace?: string;
  /** MailServer name; default the first label of the hostname. */
  name?: string;
  /** MailServer hostname; default the first listener's `hostname`. */
  hostname?: string;
}

export class Ctx {
  readonly conf: SmtpdConf;
  readonly tables: TableReader;
  readonly findings: Findings;
  readonly opts: ImportOptions;
  readonly configName: string;
  readonly docs: Emitted[] = [];
  private readonly names = new Map<string, NameSet>();

  constructor(conf: SmtpdConf, tables: TableReader, findings: Findings, opts: ImportOptions, configName: string) {
    this.conf = conf;
    this.tables = tables;
    this.findings = findings;
    this.opts = opts;
    this.configName = configName;
  }

  /** A name unique among the objects of `kind` (Secrets share one space). */
  name(kind: string, wanted: string): string {
    const set = this.names.get(kind) ?? new NameSet();
    this.names.set(kind, set);
    return set.take(wanted);
  }

  /** Adds a document; kubemta kinds get the API version, every object the namespace if one was given. */
  emit(kind: string, name: string, body: Record<string, unknown>, from?: { line: number; text?: string }): Doc {
    const apiVersion = kind === 'Secret' ? 'v1' : API_VERSION;
    const metadata = { name, ...(this.opts.namespace ? { namespace: this.opts.namespace } : {}) };
    const doc: Doc = { apiVersion, kind, metadata, ...body };
    this.docs.push({ doc, ...(from ? { source: `${this.configName}:${from.line}${from.text ? ` ${from.text}` : ''}` } : {}) });
    return doc;
  }
}
