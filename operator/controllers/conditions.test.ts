import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sameStatus, setCondition, statusFromVerdict } from './conditions.ts';

const t0 = new Date('2025-01-01T00:00:00Z');
const t1 = new Date('2025-01-02T00:00:00Z');

describe('operator/controllers conditions', () => {
  it('keeps lastTransitionTime while the status stays, moves it when the status flips, and stamps observedGeneration', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'PortConflict', message: 'spec.port: …' }, 1, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'PkiCertNotFound', message: 'spec.tls…' }, 2, t1);
    assert.equal(b[0].lastTransitionTime, '2025-01-01T00:00:00Z');
    assert.equal(b[0].observedGeneration, 2);
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Ready', message: 'ok' }, 2, t1);
    assert.equal(c[0].lastTransitionTime, '2025-01-02T00:00:00Z');
    assert.equal(c.length, 1);
  });

  it('leaves an applied object\'s status alone while its server is held, but tells a new object why it waits', () => {
    const held = { ready: 'held' as const, reason: 'Held' as const, message: 'not applied', warnings: [], status: {} };
    const ready = statusFromVerdict(undefined, { ready: true, reason: 'Ready', message: 'ok', warnings: [], status: { users: 2 } }, 3, t0)!;
    assert.equal(statusFromVerdict(ready, held, 4, t1), undefined);
    assert.equal(statusFromVerdict(undefined, held, 1, t1)!.conditions![0].status, 'Unknown');
  });

  it('adds Reconciling while waiting, Stalled for a real problem, and drops both once Ready (kstatus)', () => {
    const types = (st: ReturnType<typeof statusFromVerdict>) => st!.conditions!.map((c) => `${c.type}=${c.status}/${c.reason}`);
    const waiting = statusFromVerdict(undefined, { ready: false, reason: 'MailServerNotFound', message: 'no MailServer "post"', warnings: [], status: {}, waiting: true }, 1, t0);
    assert.deepEqual(types(waiting), ['Ready=False/MailServerNotFound', 'Reconciling=True/MailServerNotFound']);
    const stalled = statusFromVerdict(waiting, { ready: false, reason: 'ImagePullFailed', message: 'pod p: ErrImageNeverPull', warnings: [], status: {} }, 1, t1);
    assert.deepEqual(types(stalled), ['Ready=False/ImagePullFailed', 'Stalled=True/ImagePullFailed']);
    assert.equal(stalled!.conditions![0].lastTransitionTime, '2025-01-01T00:00:00Z', 'Ready stayed False');
    const ready = statusFromVerdict(stalled, { ready: true, reason: 'Ready', message: 'ok', warnings: [], status: {} }, 2, t1);
    assert.deepEqual(types(ready), ['Ready=True/Ready']);
    assert.equal(ready!.observedGeneration, 2);
  });

  it('compares statuses without lastTransitionTime, so an unchanged status is not rewritten', () => {
    const v = { ready: true as const, reason: 'Ready' as const, message: 'ok', warnings: [], status: { users: 2 } };
    const a = statusFromVerdict(undefined, v, 1, t0);
    const b = statusFromVerdict(undefined, v, 1, t1);
    assert.ok(sameStatus(a, b));
    const asServed = JSON.parse(JSON.stringify(a, (_k, v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort().reverse()) : v)));
    assert.ok(sameStatus(asServed, b), 'key order does not matter');
    assert.ok(!sameStatus(a, statusFromVerdict(undefined, { ...v, status: { users: 3 } }, 1, t0)));
  });
});
