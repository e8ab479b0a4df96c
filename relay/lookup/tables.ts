// The tables a config names, loaded from files or inline entries. Loading is all-or-nothing: a reload
// builds a complete new Tables and swaps it in, so a lookup never sees half a table.
import { readFile } from 'node:fs/promises';
import type { Config, TableConfig } from '../config/schema.ts';
import { hashScheme } from '../auth/hash.ts';
import { parseTableLines } from './table-file.ts';

export class TableError extends Error {}

export interface Tables {
  /** user → password hash, per credentials table */
  credentials: Map<string, Map<string, string>>;
}

async function loadCredentials(name: string, t: TableConfig): Promise<Map<string, string>> {
  const map = new Map<string, string>();
  if (t.file) {
    const text = await readFile(t.file, 'utf8').catch((err: Error) => {
      throw new TableError(`tables.${name}: cannot read ${t.file}: ${err.message}`);
    });
    for (const { line, key, value } of parseTableLines(text)) {
      if (!value) throw new TableError(`tables.${name}: ${t.file}:${line}: user "${key}" has no password hash`);
      if (hashScheme(value) === 'unknown') {
        throw new TableError(`tables.${name}: ${t.file}:${line}: the hash of "${key}" is neither bcrypt nor $6$/$5$ crypt`);
      }
      map.set(key, value);
    }
  } else if (t.entries && !Array.isArray(t.entries)) {
    for (const [user, hash] of Object.entries(t.entries)) {
      if (typeof hash !== 'string' || hashScheme(hash) === 'unknown') {
        throw new TableError(`tables.${name}.entries.${user}: not a bcrypt or $6$/$5$ crypt hash`);
      }
      map.set(user, hash);
    }
  } else {
    throw new TableError(`tables.${name}.entries: a credentials table maps user names to hashes`);
  }
  return map;
}

export async function loadTables(config: Config): Promise<Tables> {
  const credentials = new Map<string, Map<string, string>>();
  for (const [name, t] of Object.entries(config.tables)) {
    if (t.type === 'credentials') credentials.set(name, await loadCredentials(name, t));
  }
  return { credentials };
}
