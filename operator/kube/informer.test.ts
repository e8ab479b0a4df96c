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
      if (!signal.aborted) await new Promise((r) => signal.addEventListener('abort', r)); // no more script: hang until stopped
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

  it('warns with the error and the backoff while the API server is unreachable, and says when it works again', async () => {
    const { client, calls } = fakeClient(new Map([['a', obj('a', '1')]]), []);
    const list = (client as unknown as { list: () => Promise<unknown> }).list;
    let refusals = 2;
    (client as unknown as { list: () => Promise<unknown> }).list = async () => {
      if (refusals-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 10.96.0.1:443'), { code: 'ECONNREFUSED' });
      return list();
    };
    const lines: { level: string; o: Record<string, unknown>; msg: string }[] = [];
    const log = { warn: (o: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', o, msg }), info: (o: Record<string, unknown>, msg: string) => lines.push({ level: 'info', o, msg }) };
    const inf = new Informer(client, R, { namespace: 'ns', log: log as never, retryMs: { first: 20, max: 1000 } });
    const run = inf.run();
    await inf.synced();
    inf.stop();
    await run;
    const warnings = lines.filter((l) => l.level === 'warn');
    assert.equal(warnings.length, 2);
    assert.equal(warnings[0].o.code, 'ECONNREFUSED');
    assert.match(String(warnings[0].o.err), /ECONNREFUSED/);
    assert.ok((warnings[1].o.retryInMs as number) >= 40 && (warnings[0].o.retryInMs as number) < 40, `backoff doubles: ${warnings.map((w) => w.o.retryInMs).join(', ')}`);
    assert.deepEqual(lines.filter((l) => l.level === 'info').map((l) => l.msg), ['list and watch work again']);
    assert.deepEqual(inf.list().map((o) => o.metadata.name), ['a']);
    assert.equal(calls[0], 'list');
  });
});
