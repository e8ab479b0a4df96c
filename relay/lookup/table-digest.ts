// The digest of the table files a config names, as loaded: the relay reports it (header
// kubemta-tables-hash on its ops port) and the operator computes it from the table Secrets it rendered,
// so both agree on which tables are served without the config having to change when only a table does.
import { createHash } from 'node:crypto';
import { basename } from 'node:path';

type TableFiles = Record<string, { file?: string; files?: string[] }>;

/** The files a table reads: `files`, else `file`, else none (inline entries). */
export function tableFiles(t: { file?: string; files?: string[] }): string[] {
  return t.files ?? (t.file ? [t.file] : []);
}

/** sha256 (16 hex digits) over [table, file base name, text] for every file the tables name, in name order. */
export function tablesDigest(tables: TableFiles, text: (file: string) => string | undefined): string {
  const parts = Object.keys(tables)
    .sort()
    .flatMap((name) => tableFiles(tables[name]).map((f) => [name, basename(f), text(f) ?? null]));
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}
