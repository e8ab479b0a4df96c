// The tables a config names, read from their sources in the format makemap(8) reads: `#` comments, a
// backslash continues a line, the key is the first word (ending at whitespace or a colon, so both
// `max  max@example.org` and aliases(5)' `postmaster: root` work), the value is the rest. `db:` tables are
// read from the source makemap built them from: `db:/etc/mail/aliases.db` → `<tables-dir>/aliases`.
// Inline tables (`{ a, b }`, `{ k = v }`) and single values come from the config itself.
import { readFileSync, existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { ImportError } from './findings.ts';
import type { Ref, SmtpdConf } from './model.ts';

export interface TableEntry {
  key: string;
  /** The rest of the line (a hash, `user:password`, or comma-separated targets); '' for list entries. */
  value: string;
  line: number;
}

export interface TableData {
  name: string;
  /** The source file's name (for findings), absent for inline tables. */
  file?: string;
  entries: TableEntry[];
}

/** Parses a makemap source (or a file: table). */
export function parseTableSource(text: string): TableEntry[] {
  const out: TableEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const first = i + 1;
    let raw = lines[i];
    while (raw.endsWith('\\') && i + 1 < lines.length) raw = raw.slice(0, -1) + ' ' + lines[++i];
    const hash = raw.indexOf('#');
    if (hash >= 0) raw = raw.slice(0, hash);
    raw = raw.trim();
    if (!raw) continue;
    const m = /^([^\s:]+)[\s:]*(.*)$/.exec(raw)!;
    out.push({ key: m[1], value: m[2].trim(), line: first });
  }
  return out;
}

/** `a, b ,c` → [a, b, c]. */
export function targets(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter(Boolean);
}

/** Where a table's source is: by base name in the tables directory, `.db` dropped for db: tables. */
export function sourcePath(tablesDir: string, backend: string, path: string): string {
  const base = basename(path);
  return join(tablesDir, backend === 'db' && base.endsWith('.db') ? base.slice(0, -3) : base);
}

export class TableReader {
  private readonly cache = new Map<string, TableData>();
  private readonly conf: SmtpdConf;
  private readonly tablesDir: string;
  private readonly configFile: string;

  constructor(conf: SmtpdConf, tablesDir: string, configFile: string) {
    this.conf = conf;
    this.tablesDir = tablesDir;
    this.configFile = configFile;
  }

  /** The entries a Ref names; undefined for a table kept in a backend kubemta does not read (reported by the caller). */
  read(ref: Ref): TableData | undefined {
    if (ref.kind === 'inline') return { name: ref.list[0] ?? 'inline', entries: inlineEntries(ref.list, ref.map, ref.line) };
    const cached = this.cache.get(ref.name);
    if (cached) return cached;
    const decl = this.conf.tables.get(ref.name);
    if (!decl) throw new ImportError(`${this.configFile}:${ref.line}:${ref.col}: no table named "${ref.name}"`);
    let data: TableData | undefined;
    if (decl.backend === 'static' && !decl.path) data = { name: decl.name, entries: inlineEntries(decl.list ?? [], decl.map ?? [], decl.line) };
    else if (decl.backend === 'file' || decl.backend === 'db') {
      const src = sourcePath(this.tablesDir, decl.backend, decl.path!);
      if (!existsSync(src)) {
        throw new ImportError(`${this.configFile}:${decl.line}: table "${decl.name}" (${decl.backend}:${decl.path}): its source ${src} is not there (makemap's input; give --tables-dir)`);
      }
      data = { name: decl.name, file: basename(src), entries: parseTableSource(readFileSync(src, 'utf8')) };
    }
    if (data) this.cache.set(ref.name, data);
    return data;
  }

  /** The backend of a named table (`ldap`, `sqlite`, …) for messages. */
  backend(ref: Ref): string {
    return ref.kind === 'table' ? (this.conf.tables.get(ref.name)?.backend ?? 'unknown') : 'inline';
  }
}

function inlineEntries(list: string[], map: [string, string][], line: number): TableEntry[] {
  return list.length ? list.map((key) => ({ key, value: '', line })) : map.map(([key, value]) => ({ key, value, line }));
}
