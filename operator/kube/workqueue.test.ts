import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operator/kube workqueue', () => {
  it('coalesces a burst of events for one key into one reconcile', async () => {
    const q = new WorkQueue({ coalesceMs: 20 });
    const seen: string[] = [];
    const run = q.run(async (k) => void seen.push(k));
    for (let i = 0; i < 100; i++) q.add('ns/a');
    q.add('ns/b');
    await sleep(100);
    q.stop();
    await run;
    assert.deepEqual(seen.sort(), ['ns/a', 'ns/b']);
  });

  it('never runs one key twice at once, and runs it again when it changed while in flight', async () => {
    const q = new WorkQueue({ coalesceMs: 0 });
    let inFlight = 0;
    let maxInFlight = 0;
    let runs = 0;
    const run = q.run(async () => {
      inFlight++;
      runs++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (runs === 1) q.add('ns/a'); // changed while being reconciled
      await sleep(30);
      inFlight--;
    }, 4);
    q.add('ns/a');
    await sleep(150);
    q.stop();
    await run;
    assert.equal(maxInFlight, 1);
    assert.equal(runs, 2);
  });

  it('backs off per key after failures (doubling) while other keys go on', async () => {
    const q = new WorkQueue({ coalesceMs: 0, baseDelayMs: 40, maxDelayMs: 1000 });
    const times: number[] = [];
    let good = 0;
    const t0 = Date.now();
    const run = q.run(async (k) => {
      if (k === 'bad') {
        times.push(Date.now() - t0);
        throw new Error('409 Conflict');
      }
      good++;
    });
    q.add('bad');
    q.add('good');
    await sleep(350);
    q.stop();
    await run;
    assert.equal(good, 1);
    assert.ok(times.length >= 3 && times.length <= 4, `attempts at ${times}`);
    assert.ok(times[2] - times[1] >= times[1] - times[0] + 20, `gaps grow: ${times}`);
  });

  it('lets a change cut short a far-off requeue (a renewal) instead of waiting for it', async () => {
    const q = new WorkQueue({ coalesceMs: 10 });
    let runs = 0;
    const run = q.run(async () => {
      runs++;
      return runs === 1 ? { requeueAfterMs: 60_000 } : undefined;
    });
    q.add('ns/cert');
    await sleep(50);
    q.add('ns/cert');
    await sleep(50);
    q.stop();
    await run;
    assert.equal(runs, 2);
  });
});
