// writeStatus: only what changed is written, and a write the watch has not brought back yet is not repeated.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ControllerContext } from './context.ts';
import { writeStatus } from './status.ts';

describe('operator/controllers status writes', () => {
  it('writes a changed status once, even when the next reconcile still sees the cached object from before the write', async () => {
    const applied: unknown[] = [];
    const events: string[] = [];
    const ctx = {
      client: { apply: async (_r: unknown, _ns: string, o: unknown) => void applied.push(o) },
      events: { record: async (_o: unknown, type: string, reason: string) => void events.push(`${type} ${reason}`) },
      metrics: { writes: { inc: () => {} } },
      log: { debug: () => {} },
      now: () => new Date('2026-01-01T00:00:00Z'),
      statusWritten: new Map(),
    } as unknown as ControllerContext;
    const cached = { apiVersion: 'kubemta.io/v1alpha1', kind: 'MailDomain', metadata: { name: 'd', namespace: 'n', generation: 1, resourceVersion: '10' }, spec: {} };
    const v = { ready: true as const, reason: 'Ready' as const, message: '2 user(s)', warnings: [], status: { users: 2 } };
    assert.equal(await writeStatus(ctx, 'MailDomain', cached, v), true);
    assert.equal(await writeStatus(ctx, 'MailDomain', cached, v), false, 'the same status from the same stale cache: already written');
    assert.equal(applied.length, 1);
    // something new from the same stale cache is written; so is the old status again once the cache moved on
    assert.equal(await writeStatus(ctx, 'MailDomain', cached, { ...v, message: '3 user(s)', status: { users: 3 } }), true);
    const moved = { ...cached, metadata: { ...cached.metadata, resourceVersion: '12' }, status: { users: 9 } };
    assert.equal(await writeStatus(ctx, 'MailDomain', moved, v), true);
    assert.equal(applied.length, 3);
    // waiting is Normal, a real problem a Warning
    await writeStatus(ctx, 'MailDomain', moved, { ready: false, reason: 'MailServerNotFound', message: 'no MailServer "post"', warnings: [], status: {}, waiting: true });
    await writeStatus(ctx, 'MailDomain', { ...moved, metadata: { ...moved.metadata, resourceVersion: '13' } }, { ready: false, reason: 'InvalidSpec', message: 'spec.domains: …', warnings: [], status: {} });
    assert.deepEqual(events, ['Normal MailServerNotFound', 'Warning InvalidSpec']);
  });
});
