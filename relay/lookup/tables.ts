// The tables a config names, loaded from files or inline entries. Loading is all-or-nothing: a reload
// builds a complete new Tables and swaps it in, so a lookup never sees half a table, and a bad line fails
// the reload (the old tables keep serving) with the file and line in the message.
import { tablesDigest } from './table-digest.ts';
import { readFile } from 'node:fs/promises';
import type { Config, TableConfig } from '../config/schema.ts';
import { hashScheme } from '../auth/hash.ts';
import { NetworkList } from './cidr.ts';
import { DomainSet } from './domains.ts';
import { MappingTable, splitTargets, TableLineError } from './mapping.ts';
import { parseSrsKeys, Srs } from './srs.ts';
import { parseTableLines, type TableLine } from './table-file.ts';
import { tableFiles } from './table-digest.ts';

/** Every problem found in the tables, each `tables.<name>: <file>:<line>: <what>`. */
export class TableError extends Error {
  readonly problems: string[];
  constructor(problems: string | string[]) {
    const list = Array.isArray(problems) ? problems : [problems];
    super(list.join('\n'));
    this.problems = list;
  }
}

/** Collects a table's bad lines, so that one (re)load or `kubemta check` reports all of them. */
class Problems {
  readonly list: string[] = [];
  private readonly name: string;
  constructor(name: string) {
    this.name = name;
  }
  add(where: string, message: string): void {
    this.list.push(`tables.${this.name}: ${where}: ${message}`);
  }
  /** Throws what was collected, if anything. */
  check(): void {
    if (this.list.length) throw new TableError(this.list);
  }
}

export interface Tables {
  /** user → password hash, per credentials table */
  credentials: Map<string, Map<string, string>>;
  /** aliases and virtual tables */
  mappings: Map<string, MappingTable>;
  domains: Map<string, DomainSet>;
  networks: Map<string, NetworkList>;
  /** tablesDigest() of the table files as loaded (reported on the ops port; operator/controllers/rollout.ts). */
  digest: string;
  /** Sender rewriting for forwarded mail, with the keys from outbound.srs.keyFile. */
  srs?: Srs;
}

/** Lines from the table's file(s), or its inline entries, each with where it came from for errors. */
async function readLines(name: string, t: TableConfig, texts: Map<string, string>): Promise<(TableLine & { where: string })[]> {
  const files = tableFiles(t);
  if (files.length) {
    const out: (TableLine & { where: string })[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8').catch((err: Error) => {
        throw new TableError(`tables.${name}: cannot read ${file}: ${err.message}`);
      });
      texts.set(file, text);
      for (const l of parseTableLines(text, { colon: t.type === 'aliases' })) out.push({ ...l, where: `${file}:${l.line}` });
    }
    return out;
  }
  const entries = t.entries ?? [];
  if (Array.isArray(entries)) {
    return entries.map((key, i) => ({ line: i, key, value: '', where: `tables.${name}.entries[${i}]` }));
  }
  return Object.entries(entries).map(([key, v], i) => ({
    line: i,
    key,
    value: Array.isArray(v) ? v.join(', ') : v,
    where: `tables.${name}.entries.${key}`,
  }));
}

function fail(name: string, where: string, message: string): never {
  throw new TableError(`tables.${name}: ${where}: ${message}`);
}

async function loadCredentials(name: string, t: TableConfig, texts: Map<string, string>): Promise<Map<string, string>> {
  if (Array.isArray(t.entries)) fail(name, `tables.${name}.entries`, 'a credentials table maps user names to hashes');
  const map = new Map<string, string>();
  const problems = new Problems(name);
  for (const { key, value, where } of await readLines(name, t, texts)) {
    if (!value) problems.add(where, `user "${key}" has no password hash`);
    else if (hashScheme(value) === 'unknown') problems.add(where, `the hash of "${key}" is neither bcrypt nor $6$/$5$ crypt`);
    else map.set(key, value);
  }
  problems.check();
  return map;
}

async function loadMapping(name: string, t: TableConfig & { type: 'aliases' | 'virtual' }, texts: Map<string, string>): Promise<MappingTable> {
  if (Array.isArray(t.entries)) fail(name, `tables.${name}.entries`, `an ${t.type} table maps keys to targets, not a list`);
  const table = new MappingTable(name, t.type, t.caseSensitive);
  const problems = new Problems(name);
  for (const { key, value, where } of await readLines(name, t, texts)) {
    try {
      table.set(key, splitTargets(value));
    } catch (err) {
      if (!(err instanceof TableLineError)) throw err;
      problems.add(where, err.message);
    }
  }
  problems.check();
  return table;
}

/** Domain and network lists: one entry per line; anything after it is a mistake (OpenSMTPD refuses it too). */
async function loadList(name: string, t: TableConfig, add: (entry: string) => void, texts: Map<string, string>): Promise<void> {
  const problems = new Problems(name);
  for (const { key, value, where } of await readLines(name, t, texts)) {
    if (value) {
      problems.add(where, `"${key} ${value}": a ${t.type} table holds one entry per line`);
      continue;
    }
    try {
      add(key);
    } catch (err) {
      problems.add(where, (err as Error).message);
    }
  }
  problems.check();
}

export async function loadTables(config: Config): Promise<Tables> {
  const texts = new Map<string, string>(); // each table file as read, for the digest the relay reports
  const tables: Tables = { credentials: new Map(), mappings: new Map(), domains: new Map(), networks: new Map(), digest: '' };
  const loads = await Promise.allSettled(
    Object.entries(config.tables).map(async ([name, t]) => {
      switch (t.type) {
        case 'credentials':
          tables.credentials.set(name, await loadCredentials(name, t, texts));
          break;
        case 'aliases':
        case 'virtual':
          tables.mappings.set(name, await loadMapping(name, { ...t, type: t.type }, texts));
          break;
        case 'domains': {
          const set = new DomainSet();
          await loadList(name, t, (d) => set.add(d), texts);
          tables.domains.set(name, set);
          break;
        }
        case 'networks': {
          const list = new NetworkList();
          await loadList(name, t, (n) => list.add(n), texts);
          tables.networks.set(name, list);
          break;
        }
      }
    }),
  );
  const failed = loads.flatMap((l) => (l.status === 'rejected' ? [l.reason as Error] : []));
  if (failed.length) {
    const others = failed.find((e) => !(e instanceof TableError));
    if (others) throw others;
    throw new TableError(failed.flatMap((e) => (e as TableError).problems));
  }
  tables.digest = tablesDigest(config.tables, (f) => texts.get(f));
  const srs = config.outbound.srs;
  if (srs) {
    const text = await readFile(srs.keyFile, 'utf8').catch((err: Error) => {
      throw new TableError(`outbound.srs.keyFile: cannot read ${srs.keyFile}: ${err.message}`);
    });
    let keys: string[];
    try {
      keys = parseSrsKeys(text);
    } catch (err) {
      throw new TableError(`outbound.srs.keyFile: ${(err as Error).message}`);
    }
    tables.srs = new Srs(keys, srs.domain, srs.maxAgeDays);
  }
  return tables;
}
