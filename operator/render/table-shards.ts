// Tables as the relay reads them (`key<TAB>value, value` lines, domains one per line) and their packing
// into a fixed number of Secrets ("slots"): the set of Secrets — and so the pod's volumes — never changes
// when tables come and go, a change to one user rewrites only the slot holding its table (or its part of
// a split table), and each slot stays under the API server's 1 MiB object limit.
import { createHash } from 'node:crypto';
import { TableSchema } from '../../relay/config/index.ts';

/**
 * Whether the relay reads one table from several files (`tables.<name>.files`, proposed for
 * relay/config). Until it does, a table must fit in one Secret (~12,000 logins per credentials table).
 */
export const relayReadsTableParts = 'files' in TableSchema.properties;

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

/** Where each table went: its file names (one, or its parts in order when it was split). */
export type Packing =
  | { ok: true; slots: Slot[]; files: Map<string, string[]> }
  | { ok: false; table: string; bytes: number; why: 'too-large' | 'no-room' };

export interface PackOptions {
  /** Secrets (slots) to fill at least (`spec.tableShards`); the set changes only in the steps below. */
  count: number;
  /**
   * Most Secrets to use when the tables need more than `count` (the CRD's maximum of tableShards);
   * `count` when absent, i.e. a fixed number.
   */
  max?: number;
  /** The number chosen last time (`status.tableShards`): kept while it holds the tables, so no step back and forth. */
  previous?: number;
  /** Largest data size of one slot. */
  limit: number;
  /**
   * Whether the relay reads a table from several files (`tables.<name>.files`). Then a table larger
   * than a quarter of a slot is split by key into parts (`<name>_0`, `<name>_1`, …) that are packed
   * like tables, so one table may span Secrets; without it a table must fit in one slot.
   */
  split: boolean;
}

/** When the tables outgrow `count` slots, a new count fills them to this share, leaving room to grow. */
export const GROW_FILL = 0.75;

function preferredSlot(name: string, count: number): number {
  return createHash('sha256').update(name).digest().readUInt32BE(0) % count;
}

/** FNV-1a (32 bits): a fixed, cheap spread of keys over parts (called once per table line). */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** The key of a table line (before the tab; a list line is its own key). */
function lineKey(line: string): string {
  const tab = line.indexOf('\t');
  return tab < 0 ? line : line.slice(0, tab);
}

/**
 * Splits a table into `parts` files by a hash of each line's key, so a changed or added entry changes
 * one part only (the part count, and so every part, changes only when the table grows past a step).
 * Every line lands in exactly one part; each part is sorted like a whole table.
 */
export function splitTable(t: TableFile, parts: number): TableFile[] {
  const buckets: string[][] = Array.from({ length: parts }, () => []);
  for (const line of t.text.split('\n')) {
    if (!line) continue;
    buckets[fnv1a(lineKey(line)) % parts].push(line);
  }
  // underscore never occurs in a relayName (Kubernetes names have none), so part names cannot collide
  return buckets.map((lines, i) => ({ name: `${t.name}_${i}`, type: t.type, text: lines.length ? lines.join('\n') + '\n' : '' }));
}

/** Tables above this size are split into parts of about this size when the relay reads parts. */
export function partBytes(limit: number): number {
  return Math.floor(limit / 4);
}

/**
 * Places each table (or part) in the slot its name hashes to, or the next one with room (largest first,
 * so a big table keeps its place). Deterministic: the same tables (and previous count) give the same slots.
 *
 * How many slots: `count` while the tables fit in it. When they do not (and `max` allows), enough that
 * they fill about GROW_FILL of them, so the next users do not need another step at once; the relay pod
 * mounts every slot, so each step restarts it once. A count above `count` that was chosen before is kept
 * while it holds the tables, until they would fill less than half of `count` (then back to `count`): no
 * restart back and forth around one size.
 */
export function packTables(tables: TableFile[], opts: PackOptions): Packing {
  const { count, limit } = opts;
  const max = Math.max(count, opts.max ?? count);
  const cut = piecesOf(tables, opts);
  if (!cut.ok) return cut;
  const total = cut.pieces.reduce((a, p) => a + Buffer.byteLength(p.text), 0);
  const candidates: number[] = [];
  if (opts.previous && opts.previous > count && opts.previous <= max && total > (count * limit) / 2) candidates.push(opts.previous);
  candidates.push(count);
  for (let n = Math.max(count + 1, Math.ceil(total / (limit * GROW_FILL))); n <= max; n++) candidates.push(n);
  let last: Packing | undefined;
  for (const n of candidates) {
    last = place(tables, cut.pieces, cut.files, n, limit);
    if (last.ok) return last;
  }
  // when even max slots failed, name the table that found no room at max
  return candidates.at(-1) === max ? last! : place(tables, cut.pieces, cut.files, max, limit);
}

/** Each table whole, or (when the relay reads parts) split into parts of about a quarter slot. */
function piecesOf(tables: TableFile[], opts: PackOptions): { ok: true; pieces: TableFile[]; files: Map<string, string[]> } | Extract<Packing, { ok: false }> {
  const { limit } = opts;
  const files = new Map<string, string[]>();
  const pieces: TableFile[] = [];
  for (const t of tables) {
    const size = Buffer.byteLength(t.text);
    if (!opts.split || size <= partBytes(limit)) {
      if (size > limit) return { ok: false, table: t.name, bytes: size, why: 'too-large' };
      pieces.push(t);
      files.set(t.name, [t.name]);
      continue;
    }
    // hash buckets are uneven by a few per cent; add a part until each fits comfortably in a slot
    const lines = t.text.split('\n').length;
    let n = Math.ceil(size / partBytes(limit));
    let parts = splitTable(t, n);
    while (n < lines && parts.some((p) => Buffer.byteLength(p.text) > limit / 2)) parts = splitTable(t, ++n);
    pieces.push(...parts);
    files.set(t.name, parts.map((p) => p.name));
  }
  return { ok: true, pieces, files };
}

function place(tables: TableFile[], pieces: TableFile[], files: Map<string, string[]>, count: number, limit: number): Packing {
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({ index, files: [], bytes: 0 }));
  const sorted = [...pieces].sort((a, b) => Buffer.byteLength(b.text) - Buffer.byteLength(a.text) || (a.name < b.name ? -1 : 1));
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
    if (!placed) {
      const table = [...files].find(([, names]) => names.includes(t.name))![0];
      return { ok: false, table, bytes: Buffer.byteLength(tables.find((x) => x.name === table)!.text), why: 'no-room' };
    }
  }
  for (const s of slots) s.files.sort((a, b) => (a.name < b.name ? -1 : 1));
  return { ok: true, slots, files };
}
