import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getHeapStatistics } from 'node:v8';
import { returnMemoryAfterBursts } from './memory.ts';

const used = () => getHeapStatistics().used_heap_size;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a burst of sessions that has gone leaves no garbage in the heap; a steady load triggers no collection', async () => {
  let sessions = 0;
  const stop = returnMemoryAfterBursts(() => sessions, { intervalMs: 1200, minGrowthBytes: 8 * 1024 * 1024 });
  try {
    // the burst: per-session objects, ~40 MB, held while the sessions are open, then dropped
    sessions = 400;
    let held: unknown[] | undefined = Array.from({ length: 400 }, () => Array.from({ length: 10_000 }, (_, i) => ({ i })));
    await sleep(1500);
    const during = used();
    assert.ok(held.length === 400 && during > 30 * 1024 * 1024, `the burst is on the heap (${during >> 20} MB)`);
    // steady: sessions still open, so no collection is asked for however large the heap is
    await sleep(1300);
    assert.ok(used() >= during - 4 * 1024 * 1024, 'no collection while the sessions stay open');
    held = undefined;
    sessions = 3;
    let after = used();
    for (let i = 0; i < 40 && after > during / 2; i++) {
      await sleep(100);
      after = used();
    }
    assert.ok(after < during / 2, `garbage collected after the burst: ${during >> 20} MB → ${after >> 20} MB`);
  } finally {
    stop();
  }
});
