import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GROW_FILL, packTables, partBytes, splitTable, tableText, type TableFile } from './table-shards.ts';

const HASH = '$2b$10$r47TQpDWi53asfXX6R9equ9C2KR1G8SMTx/t4V7WlEmLZDdMWo9qe';

function credentials(name: string, users: number, from = 0): TableFile {
  return { name, type: 'credentials', text: tableText(Array.from({ length: users }, (_, i) => [`user${from + i}@example.org`, [HASH]])) };
}
const lines = (t: { text: string }) => t.text.split('\n').filter(Boolean);
const bytes = (t: { text: string }) => Buffer.byteLength(t.text);

describe('operator/render tables', () => {
  it('keeps a table whole in one slot while the relay reads one file per table, and says when one is too large', () => {
    const small = credentials('auth-a', 10);
    const p = packTables([small, { name: 'aliases', type: 'aliases', text: 'root\tmax\n' }], { count: 4, limit: 10_000, split: false });
    assert.ok(p.ok);
    assert.deepEqual(p.files.get('auth-a'), ['auth-a']);
    assert.equal(p.slots.length, 4, 'every slot exists, empty or not (the pod mounts all of them)');
    const big = credentials('auth-big', 200); // ~16 KB
    assert.deepEqual(packTables([big], { count: 4, limit: 10_000, split: false }), { ok: false, table: 'auth-big', bytes: bytes(big), why: 'too-large' });
  });

  it('splits a table larger than a quarter slot into parts by key: every line in exactly one part, each part within half a slot', () => {
    const t = credentials('auth-submission', 30_000); // ~2.4 MB: more than two 1 MB Secrets
    const p = packTables([t], { count: 4, limit: 1_000_000, split: true });
    assert.ok(p.ok);
    const names = p.files.get('auth-submission')!;
    assert.ok(names.length >= Math.ceil(bytes(t) / partBytes(1_000_000)), names.join(' '));
    assert.deepEqual(names, names.map((_, i) => `auth-submission_${i}`));
    const parts = p.slots.flatMap((s) => s.files);
    assert.deepEqual(parts.flatMap(lines).sort(), lines(t));
    for (const part of parts) assert.ok(bytes(part) <= 500_000, `${part.name}: ${bytes(part)} bytes`);
    for (const s of p.slots) assert.ok(s.bytes <= 1_000_000, `slot ${s.index}: ${s.bytes} bytes`);
    assert.ok(new Set(p.slots.filter((s) => s.files.length).map((s) => s.index)).size > 2, 'the table spans Secrets');
  });

  it('changes one part when one entry changes or is added (the part count moves only in steps)', () => {
    const t = credentials('auth-submission', 10_000);
    const changed = { ...t, text: t.text.replace(`user4242@example.org\t${HASH}`, 'user4242@example.org\t$2b$10$otherotherotherotherotheroutherotherotherotherother12') };
    const added = { ...t, text: tableText([...lines(t).map((l): [string, string[]] => [l.split('\t')[0], [l.split('\t')[1]]]), ['new@example.org', [HASH]]]) };
    const n = Math.ceil(bytes(t) / partBytes(1_000_000));
    for (const other of [changed, added]) {
      const [a, b] = [splitTable(t, n), splitTable(other, n)];
      assert.equal(a.filter((x, i) => x.text !== b[i].text).length, 1);
    }
  });

  it('reports when all slots together have no room, naming the table that did not fit', () => {
    const p = packTables([credentials('auth-a', 30_000), credentials('auth-b', 30_000, 30_000)], { count: 4, limit: 1_000_000, split: true });
    assert.equal(p.ok, false);
    assert.ok(!p.ok && p.why === 'no-room' && ['auth-a', 'auth-b'].includes(p.table));
  });

  it('uses more slots than count when the tables need them (up to max), filled to about GROW_FILL so the next users fit', () => {
    const tables = [credentials('auth-a', 30_000), credentials('auth-b', 30_000, 30_000)]; // ~4.9 MB: more than 4 slots hold
    const total = tables.reduce((a, t) => a + bytes(t), 0);
    const p = packTables(tables, { count: 4, max: 64, limit: 1_000_000, split: true });
    assert.ok(p.ok);
    assert.equal(p.slots.length, Math.ceil(total / (1_000_000 * GROW_FILL)), `${p.slots.length} slots for ${total} bytes`);
    for (const s of p.slots) assert.ok(s.bytes <= 1_000_000, `slot ${s.index}: ${s.bytes} bytes`);
    assert.deepEqual(p.slots.flatMap((s) => s.files).flatMap(lines).sort(), tables.flatMap(lines).sort(), 'every line once');
    const small = packTables([credentials('auth-a', 100)], { count: 4, max: 64, limit: 1_000_000, split: true });
    assert.ok(small.ok && small.slots.length === 4, 'count while they fit');
    const none = packTables([...tables, credentials('auth-c', 30_000, 60_000)], { count: 4, max: 6, limit: 1_000_000, split: true }); // ~7.4 MB
    assert.ok(!none.ok && none.why === 'no-room', 'max is the most it uses');
  });

  it('keeps a count it chose before while that holds the tables, and goes back to count only below half of it: no step back and forth', () => {
    const opts = { count: 4, max: 64, limit: 1_000_000, split: true };
    const grown = packTables([credentials('auth-a', 60_000)], opts);
    assert.ok(grown.ok && grown.slots.length > 4);
    const previous = grown.slots.length;
    // shrunk to where 4 slots would hold them again (about 3.7 MB of 4 MB), but more than half of 4 slots: kept
    const fewer = packTables([credentials('auth-a', 45_000)], { ...opts, previous });
    assert.ok(fewer.ok);
    assert.equal(fewer.slots.length, previous);
    assert.ok(packTables([credentials('auth-a', 45_000)], opts).ok, 'without the previous count they fit in 4');
    // below half of 4 slots: back to 4
    const back = packTables([credentials('auth-a', 20_000)], { ...opts, previous });
    assert.ok(back.ok && back.slots.length === 4);
    // a previous count that no longer holds them grows again; a previous count not above count is no floor
    const more = packTables([credentials('auth-a', 120_000)], { ...opts, previous });
    assert.ok(more.ok && more.slots.length > previous);
    const lowered = packTables([credentials('auth-a', 100)], { ...opts, count: 2, previous: 4 });
    assert.ok(lowered.ok && lowered.slots.length === 2, 'spec.tableShards lowered, tables small: the new count');
  });

  it('is deterministic: the same tables give the same slots', () => {
    const tables = [credentials('auth-a', 8_000), credentials('auth-b', 50), { name: 'domains-x', type: 'domains' as const, text: 'a.example\nb.example\n' }];
    assert.deepEqual(packTables(tables, { count: 4, limit: 1_000_000, split: true }), packTables([...tables].reverse(), { count: 4, limit: 1_000_000, split: true }));
  });
});
