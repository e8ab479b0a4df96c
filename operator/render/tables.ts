// Tables as the relay reads them (one file per table, `key<TAB>value, value` lines, domains one per line)
// and their packing into a fixed number of Secrets ("slots"): the set of Secrets — and so the pod's
// volumes — never changes when tables come and go, a change to one user rewrites only the slot holding
// its table, and each slot stays under the API server's 1 MiB object limit.
import { createHash } from 'node:crypto';

export type TableType = 'credentials' | 'aliases' | 'virtual' | 'domains';

export interface TableFile {
  name: string;
  type: TableType;
  text: string;
}

export function tableText(entries: Iterable<[string, string[]]>): string {
  const lines: string[] = [];
  for (const [k, v] of entries) lines.push(v.length ? `${k}\t${v.join(', ')}` : k);
  lines.sort();
  return lines.length ? lines.join('\n') + '\n' : '';
}

export function listText(items: Iterable<string>): string {
  const lines = [...new Set(items)].sort();
  return lines.length ? lines.join('\n') + '\n' : '';
}

/** A relay-config name (≤ 63 chars, `[A-Za-z0-9][A-Za-z0-9_.-]*`) from an object name, stable and unique. */
export function relayName(prefix: string, name: string): string {
  const full = `${prefix}${name}`;
  if (full.length <= 63) return full;
  const h = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, 54)}-${h}`;
}

export interface Slot {
  index: number;
  files: TableFile[];
  bytes: number;
}

export type Packing = { ok: true; slots: Slot[] } | { ok: false; table: string; bytes: number };

function preferredSlot(name: string, count: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % count;
}

/**
 * Places each table in the slot its name hashes to, or the next one with room (largest tables first, so a
 * big table keeps its place). Deterministic: the same tables give the same slots.
 */
export function packTables(tables: TableFile[], count: number, limit: number): Packing {
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, files: [], bytes: 0 }));
  const sorted = [...tables].sort((a, b) => Buffer.byteLength(b.text) - Buffer.byteLength(a.text) || (a.name < b.name ? -1 : 1));
  for (const t of sorted) {
    const size = Buffer.byteLength(t.text);
    const start = preferredSlot(t.name, count);
    let placed = false;
    for (let i = 0; i < count && !placed; i++) {
      const s = slots[(start + i) % count];
      if (s.bytes + size <= limit) {
        s.files.push(t);
        s.bytes += size;
        placed = true;
      }
    }
    if (!placed) return { ok: false, table: t.name, bytes: size };
  }
  for (const s of slots) s.files.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { ok: true, slots };
}
