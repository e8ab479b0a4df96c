import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ApiError, type KubeClient, type KubeObjectLike, type WatchEvent } from './client.ts';
import { Informer } from './informer.ts';
import { until } from '../../test/until.ts';

const R = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
const obj = (name: string, rv: string): KubeObjectLike => ({ metadata: { name, namespace: 'ns', resourceVersion: rv } });

/** An API server in memory: `list` answers from `objects`; each `watch` plays the next script step. */
function fakeClient(objects: Map<string, KubeObjectLike>, watches: ((on: (e: WatchEvent<KubeObjectLike>) => void, rv: string) => Promise<string>)[]) {
  const calls: string[] = [];
  const client = {
    list: async () => {
      calls.push('list');
      return { items: [...objects.values()].map((o) => structuredClone(o)), resourceVersion: String(100 + calls.length) };
    },
    watch: async (_r: unknown, _ns: unknown, rv: string, on: (e: WatchEvent<KubeObjectLike>) => void, signal: AbortSignal) => {
      calls.push(`watch@${rv}`);
      const step = watches.shift();
      if (step) return step(on, rv);
      await new Promise((r) => signal.addEventListener('abort', r)); // no more script: hang until stopped
      return rv;
    },
  };
  return { client: client as unknown as KubeClient, calls };
}

describe('operator/kube informer', () => {
  it('lists, watches from the list\'s version, resumes a closed watch from the last version seen', async () => {
    const objects = new Map([['a', obj('a', '1')]]);
    const { client, calls } = fakeClient(objects, [
      async (on) => {
        on({ type: 'ADDED', object: obj('b', '7') });
        return '7'; // the server closed the stream (timeout)
      },
    ]);
    const inf = new Informer(client, R, { namespace: 'ns' });
    const run = inf.run();
    await inf.synced();
    await until('the resumed watch', () => calls.length >= 3, 2000);
    assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'b']);
    assert.deepEqual(calls, ['list', 'watch@101', 'watch@7']);
    assert.equal(inf.health.restarts, 1);
    inf.stop();
    await run;
  });

  it('relists on 410 Gone and replays what it missed as events: changed, added, deleted', async () => {
    const objects = new Map([['a', obj('a', '1')], ['b', obj('b', '2')]]);
    const { client, calls } = fakeClient(objects, [
      async () => {
        // while the watch was away: a changed, b deleted, c added; then the version is too old
        objects.set('a', obj('a', '5'));
        objects.delete('b');
        objects.set('c', obj('c', '6'));
        throw new ApiError(410, 'Expired', 'too old resource version');
      },
    ]);
    const inf = new Informer(client, R, { namespace: 'ns' });
    const seen: string[] = [];
    inf.on((e) => seen.push(`${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}`));
    const run = inf.run();
    await inf.synced();
    await until('the relist after 410', () => calls.length >= 4, 2000);
    assert.deepEqual(seen, ['ADDED a@1', 'ADDED b@2', 'MODIFIED a@5', 'ADDED c@6', 'DELETED b@2']);
    assert.deepEqual(calls, ['list', 'watch@101', 'list', 'watch@103']);
    assert.equal(inf.health.relists, 2);
    assert.match(inf.health.lastError!, /^410 Expired/);
    assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'c']);
    inf.stop();
    await run;
  });
});
