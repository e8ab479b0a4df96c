import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { afterDeferral, delayWarningDue } from './expiry.ts';

const o = { retry: { minSeconds: 60, maxSeconds: 3600, greylistSeconds: 300 }, queueLifetimeSeconds: 4 * 86400 };

describe('relay/scheduler/expiry', () => {
  it('backs off exponentially with jitter, capped, and never past the end of the queue lifetime', () => {
    const t0 = 1_000_000;
    assert.deepEqual(afterDeferral(o, t0, 1, 'x', t0, 0, () => 0.5), { kind: 'retry', at: t0 + 60_000 });
    assert.deepEqual(afterDeferral(o, t0, 3, 'x', t0, 0, () => 0.5), { kind: 'retry', at: t0 + 240_000 });
    assert.deepEqual(afterDeferral(o, t0, 30, 'x', t0, 0, () => 0.5), { kind: 'retry', at: t0 + 3_600_000 });
    const late = t0 + 4 * 86400_000 - 1000;
    assert.deepEqual(afterDeferral(o, t0, 50, 'x', late, 0, () => 0.5), { kind: 'retry', at: t0 + 4 * 86400_000 });
  });

  it('waits until notBefore when an agent asks for longer than the backoff, still never past the deadline', () => {
    const t0 = 1_000_000;
    assert.deepEqual(afterDeferral(o, t0, 1, 'x', t0, t0 + 300_000, () => 0.5), { kind: 'retry', at: t0 + 300_000 });
    assert.deepEqual(afterDeferral(o, t0, 1, 'x', t0, t0 + 1000, () => 0.5), { kind: 'retry', at: t0 + 60_000 }, 'an earlier notBefore changes nothing');
    assert.deepEqual(afterDeferral(o, t0, 1, 'x', t0, t0 + 9 * 86400_000, () => 0.5), { kind: 'retry', at: t0 + 4 * 86400_000 });
  });

  it('expires at the deadline with 4.4.7 and the last error', () => {
    const r = afterDeferral(o, 0, 70, 'mx said: 451 later', 4 * 86400_000);
    assert.equal(r.kind, 'expire');
    assert.match(r.kind === 'expire' ? r.detail : '', /^4\.4\.7 delivery time expired after 70 attempt\(s\) in 4d; last error: mx said: 451 later$/);
  });

  it('warns once, only when configured and old enough', () => {
    assert.equal(delayWarningDue({ delayWarningSeconds: undefined }, 0, false, 1e9), false);
    assert.equal(delayWarningDue({ delayWarningSeconds: 3600 }, 0, false, 3_599_000), false);
    assert.equal(delayWarningDue({ delayWarningSeconds: 3600 }, 0, false, 3_600_000), true);
    assert.equal(delayWarningDue({ delayWarningSeconds: 3600 }, 0, true, 9_000_000), false);
  });
});
