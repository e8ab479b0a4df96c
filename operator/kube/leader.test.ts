import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, type KubeClient, type KubeObjectLike } from './client.ts';
import { LeaderElector } from './leader.ts';

/** A Lease store with resourceVersions (409 on a stale write), and a switch that makes every request hang. */
function leaseServer() {
  let lease: (KubeObjectLike & { spec: Record<string, unknown> }) | undefined;
  let rv = 0;
  const state = { hang: false };
  const hang = () => (state.hang ? new Promise<never>(() => {}) : undefined);
  const client = {
    get: async () => {
      await hang();
      if (!lease) throw new ApiError(404, 'NotFound', 'no lease');
      return structuredClone(lease);
    },
    create: async (_r: unknown, _ns: string, o: KubeObjectLike & { spec: Record<string, unknown> }) => {
      await hang();
      if (lease) throw new ApiError(409, 'AlreadyExists', 'exists');
      lease = { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
    update: async (_r: unknown, _ns: string, o: KubeObjectLike & { spec: Record<string, unknown> }) => {
      await hang();
      if (o.metadata.resourceVersion !== lease?.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'stale');
      lease = { ...o, metadata: { ...o.metadata, resourceVersion: String(++rv) } };
      return lease;
    },
  };
  return { client: client as unknown as KubeClient, state, holder: () => lease?.spec.holderIdentity };
}

const opts = (identity: string) => ({ namespace: 'ns', name: 'kubemta-operator', identity, leaseSeconds: 0.4, renewSeconds: 0.1 });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('operator/kube leader', () => {
  it('elects one of two candidates; the other takes over only after the lease is given up', async () => {
    const server = leaseServer();
    const a = new LeaderElector(server.client, opts('a'));
    const b = new LeaderElector(server.client, opts('b'));
    assert.equal(await a.tryAcquireOrRenew(), true);
    assert.equal(await b.tryAcquireOrRenew(), false);
    assert.equal(await a.tryAcquireOrRenew(), true, 'renews');
    const events: string[] = [];
    a.run(() => events.push('a+'), () => events.push('a-'));
    b.run(() => events.push('b+'), () => events.push('b-'));
    await sleep(300);
    assert.deepEqual(events, ['a+']);
    await a.stop();
    await sleep(300);
    assert.deepEqual(events, ['a+', 'b+']);
    assert.equal(server.holder(), 'b');
    await b.stop();
  });

  it('steps down when renewals hang, before the lease could expire for another candidate', async () => {
    const server = leaseServer();
    const a = new LeaderElector(server.client, opts('a'));
    const events: [string, number][] = [];
    a.run(() => events.push(['start', Date.now()]), () => events.push(['stop', Date.now()]), () => {});
    await sleep(150);
    const cut = Date.now();
    server.state.hang = true; // the API server stops answering
    await sleep(400);
    assert.deepEqual(events.map(([e]) => e), ['start', 'stop']);
    assert.ok(events[1][1] - cut < 400, `stepped down ${events[1][1] - cut} ms after losing contact (lease: 400 ms)`);
    await a.stop();
  });
});
