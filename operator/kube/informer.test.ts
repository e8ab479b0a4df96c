// The informer against an API server in this process (HTTP, discovery, list, scripted watch streams):
// client-node's ListWatch underneath, our retries, bookmarks and `old` on top.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { once } from 'node:events';
import { KubeClient, type KubeObjectLike } from './client.ts';
import { Informer } from './informer.ts';
import { until } from '../../test/until.ts';
import { kubeConfigAt } from '../../test/kubeconfig.ts';

const R = { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' };
const obj = (name: string, rv: string): KubeObjectLike => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } });
type Step = (send: (type: string, o: unknown) => void) => Promise<void> | void;

/** An API server for ConfigMaps in namespace ns: `list` answers from `objects`; each watch plays the next
 * script step and closes the stream (no steps left: it stays open until the client goes). */
async function fakeApiServer(objects: Map<string, KubeObjectLike>, steps: Step[], port = 0) {
  const calls: string[] = [];
  const queries: URLSearchParams[] = [];
  const listQueries: string[] = [];
  let lists = 0;
  const json = (res: ServerResponse, body: unknown) => {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(body));
  };
  const server = createServer(async (req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (url.pathname === '/api/v1') return json(res, { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'configmaps', namespaced: true, kind: 'ConfigMap', verbs: ['list', 'watch'] }] });
    if (url.pathname !== '/api/v1/namespaces/ns/configmaps') return (res.statusCode = 404), res.end();
    if (url.searchParams.get('watch') !== 'true') {
      const q = url.searchParams;
      listQueries.push(q.toString());
      // pages when asked (limit, continue: the offset), all of one version
      const from = Number(q.get('continue') ?? 0);
      const limit = Number(q.get('limit') ?? 0) || objects.size;
      const more = from + limit < objects.size;
      if (!from) calls.push('list'), lists++;
      return json(res, { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: String(100 + lists), ...(more ? { continue: String(from + limit) } : {}) }, items: [...objects.values()].slice(from, from + limit) });
    }
    calls.push(`watch@${url.searchParams.get('resourceVersion')}`);
    queries.push(url.searchParams);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    const step = steps.shift();
    if (!step) return;
    await step((type, object) => res.write(JSON.stringify({ type, object }) + '\n'));
    res.end();
  });
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  const kc = kubeConfigAt(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  return {
    client: await KubeClient.fromKubeConfig(kc),
    calls,
    queries,
    listQueries,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

describe('operator/kube informer', () => {
  it('lists, watches from the list\'s version with bookmarks, resumes a closed watch from the last version seen', async () => {
    const objects = new Map([['a', obj('a', '1')]]);
    const api = await fakeApiServer(objects, [
      (send) => {
        send('ADDED', obj('b', '7'));
        send('BOOKMARK', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '9' } });
      }, // then the server closes the stream (its timeout)
    ]);
    const inf = new Informer(api.client, R, { namespace: 'ns' });
    const run = inf.run();
    try {
      await inf.synced();
      await until('the resumed watch', () => api.calls.length >= 3, 5000);
      assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'b']);
      assert.deepEqual(api.calls, ['list', 'watch@101', 'watch@9']);
      assert.equal(api.queries[0].get('allowWatchBookmarks'), 'true');
      assert.ok(Number(api.queries[0].get('timeoutSeconds')) >= 240, 'a server-side timeout, renewed with a bookmark');
      assert.equal(inf.health.restarts, 1);
      assert.equal(inf.get('ns', 'b')?.metadata.resourceVersion, '7');
    } finally {
      inf.stop();
      await run;
      await api.close();
    }
  });

  it('relists on 410 Gone and replays what it missed as events, each with the object as it was', async () => {
    const objects = new Map([['a', obj('a', '1')], ['b', obj('b', '2')]]);
    const api = await fakeApiServer(objects, [
      (send) => {
        // while the watch was away: a changed, b deleted, c added; then the version is too old
        objects.set('a', obj('a', '5'));
        objects.delete('b');
        objects.set('c', obj('c', '6'));
        send('ERROR', { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 410, reason: 'Expired', message: 'too old resource version' });
      },
    ]);
    const inf = new Informer(api.client, R, { namespace: 'ns' });
    const seen: string[] = [];
    inf.on((e, old) => seen.push(`${e.type} ${e.object.metadata.name}@${e.object.metadata.resourceVersion}${old ? ` was @${old.metadata.resourceVersion}` : ''}`));
    const run = inf.run();
    try {
      await inf.synced();
      await until('the relist after 410', () => api.calls.length >= 4, 5000);
      assert.deepEqual(seen, ['ADDED a@1', 'ADDED b@2', 'DELETED b@2 was @2', 'MODIFIED a@5 was @1', 'ADDED c@6']);
      assert.deepEqual(api.calls, ['list', 'watch@101', 'list', 'watch@102']);
      assert.equal(inf.health.relists, 2);
      // the first list from the server's watch cache; the relist (410: too old) a consistent read, in pages
      assert.deepEqual(api.listQueries, ['resourceVersion=0', 'limit=500']);
      const paged = await api.client.list(R, 'ns', undefined, { limit: 1 });
      assert.deepEqual([paged.items.map((o) => o.metadata.name), paged.resourceVersion], [['a', 'c'], '103'], 'every page, one version');
      assert.deepEqual(api.listQueries.slice(2), ['limit=1', 'limit=1&continue=1']);
      assert.deepEqual(inf.list().map((o) => o.metadata.name).sort(), ['a', 'c']);
    } finally {
      inf.stop();
      await run;
      await api.close();
    }
  });

  it('warns with the error and the backoff while the API server is unreachable, and says when it works again', async () => {
    // a port that refuses until the "API server" starts listening on it
    const probe = createTcpServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as { port: number }).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const kc = kubeConfigAt(`http://127.0.0.1:${port}`);
    const lines: { level: string; o: Record<string, unknown>; msg: string }[] = [];
    const log = { warn: (o: Record<string, unknown>, msg: string) => lines.push({ level: 'warn', o, msg }), info: (o: Record<string, unknown>, msg: string) => lines.push({ level: 'info', o, msg }) };
    const inf = new Informer(await KubeClient.fromKubeConfig(kc), R, { namespace: 'ns', log: log as never, retryMs: { first: 20, max: 1000 } });
    const run = inf.run();
    let api: Awaited<ReturnType<typeof fakeApiServer>> | undefined;
    try {
      await until('two warnings', () => lines.filter((l) => l.level === 'warn').length >= 2, 5000);
      api = await fakeApiServer(new Map([['a', obj('a', '1')]]), [], port);
      await inf.synced();
      await until('it says so', () => lines.some((l) => l.level === 'info'), 5000);
      const warnings = lines.filter((l) => l.level === 'warn');
      assert.equal(warnings[0].o.code, 'ECONNREFUSED');
      assert.match(String(warnings[0].o.err), /ECONNREFUSED/);
      assert.ok((warnings[1].o.retryInMs as number) >= 40 && (warnings[0].o.retryInMs as number) < 40, `backoff doubles: ${warnings.map((w) => w.o.retryInMs).join(', ')}`);
      assert.deepEqual(lines.filter((l) => l.level === 'info').map((l) => l.msg), ['list and watch work again']);
      assert.deepEqual(inf.list().map((o) => o.metadata.name), ['a']);
      assert.deepEqual(api.calls, ['list', 'watch@101']);
    } finally {
      inf.stop();
      await run;
      await api?.close();
    }
  });
});
