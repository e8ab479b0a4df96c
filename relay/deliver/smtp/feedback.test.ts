import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DestinationFeedback, type FeedbackLimits } from './feedback.ts';

const cause = { after: '421 4.7.0 too many connections', detail: 'mx[127.0.0.1] said: 421 4.7.0 too many connections' };

function feedback(over: Partial<FeedbackLimits> = {}) {
  const limits: FeedbackLimits = { perDestination: 20, initialPerDestination: 5, minMs: 60_000, maxMs: 3_600_000, ...over };
  // random 0.5: the backoff's jitter is 0, so pauses are exact
  return { f: new DestinationFeedback(() => limits, () => 0.5), limits };
}

describe('relay/deliver/smtp/feedback', () => {
  it('starts a destination at the initial window and opens it by one per cohort that went well, up to the cap', () => {
    const { f } = feedback({ perDestination: 7 });
    assert.equal(f.window('d'), 5);
    for (let i = 0; i < 4; i++) assert.equal(f.success('d', 0), false);
    assert.equal(f.success('d', 0), true, 'five deliveries at window 5: one cohort');
    assert.equal(f.window('d'), 6);
    for (let i = 0; i < 5; i++) f.success('d', 0);
    assert.equal(f.success('d', 0), true, 'six at window 6');
    assert.equal(f.window('d'), 7);
    for (let i = 0; i < 50; i++) assert.equal(f.success('d', 0), false, 'never past perDestination');
    assert.equal(f.window('d'), 7);
    assert.equal(f.window('other'), 5, 'destinations are apart');
  });

  it('a cap below the initial window wins, also after a reload lowers it', () => {
    const { f, limits } = feedback({ perDestination: 2 });
    assert.equal(f.window('d'), 2);
    limits.perDestination = 20;
    assert.equal(f.window('d'), 5);
    limits.perDestination = 3;
    assert.equal(f.window('d'), 3);
  });

  it('a failure halves the window and pauses the destination on the retry schedule, doubling in a row', () => {
    const { f } = feedback();
    const p1 = f.failure('d', cause, 1000);
    assert.deepEqual(p1, { until: 1000 + 60_000, ...cause });
    assert.equal(f.window('d'), 2);
    assert.deepEqual(f.paused('d', 1000 + 59_999), p1);
    assert.equal(f.paused('d', 1000 + 60_000), undefined, 'the pause ends on time');
    assert.equal(f.paused('other', 1000), undefined, 'other destinations are not paused');
    const p2 = f.failure('d', cause, 100_000);
    assert.equal(p2.until, 100_000 + 120_000, 'second throttle in a row: twice as long');
    assert.equal(f.window('d'), 1);
    f.failure('d', cause, 300_000);
    assert.equal(f.window('d'), 1, 'never below one');
    f.success('d', 600_000);
    assert.equal(f.failure('d', cause, 700_000).until, 700_000 + 60_000, 'a transaction that went well ends the row');
  });

  it('failures reported while paused (connections in flight) make one throttle, not several', () => {
    const { f } = feedback();
    const p = f.failure('d', cause, 0);
    assert.equal(f.failure('d', { after: 'other', detail: 'other' }, 10), p);
    assert.equal(f.window('d'), 2);
    assert.equal(f.failure('d', cause, 60_000).until, 60_000 + 120_000);
  });

  it('resume ends every pause (queue flush) and keeps the windows', () => {
    const { f } = feedback();
    f.failure('a', cause, 0);
    f.failure('b', cause, 0);
    f.resume();
    assert.equal(f.paused('a', 1), undefined);
    assert.equal(f.paused('b', 1), undefined);
    assert.equal(f.window('a'), 2);
  });

  it('forgets destinations unused for ten minutes, but never one that is paused', () => {
    const { f } = feedback({ maxMs: 3_600_000, minMs: 3_600_000 });
    f.success('idle', 0);
    f.failure('paused', cause, 0);
    for (let i = 0; i < 4; i++) f.success('busy', 0);
    f.success('x', 700_000);
    assert.equal(f.window('paused'), 2);
    assert.equal(f.paused('paused', 700_000)?.after, cause.after);
    for (let i = 0; i < 4; i++) f.success('busy', 700_001);
    assert.equal(f.window('busy'), 5, 'forgotten: its credit started over');
  });
});
