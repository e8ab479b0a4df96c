// The client on client-node against an API server in this process: the requests it sends (paths from
// discovery, content types, the status subresource), the answers and errors it gives back, and its
// connection pool.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import { once } from 'node:events';
import { createSecureServer } from 'node:http2';
import { gzipSync } from 'node:zlib';
import { generate } from 'selfsigned';
import { KubernetesObjectApi } from '@kubernetes/client-node';
import { ApiError, KubeClient } from './client.ts';
import { kubeConfigAt } from '../../test/kubeconfig.ts';

const R = { group: 'kubemta.io', version: 'v1alpha1', plural: 'mailservers', kind: 'MailServer' };

async function fakeApiServer() {
  const requests: { method: string; url: string; type?: string; body: string }[] = [];
  let connections = 0;
  const read = async (req: IncomingMessage) => {
    let s = '';
    for await (const c of req) s += c;
    return s;
  };
  const server = createServer(async (req, res) => {
    const body = await read(req);
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/apis/kubemta.io/v1alpha1') return res.end(JSON.stringify({ kind: 'APIResourceList', resources: [{ name: 'mailservers', namespaced: true, kind: 'MailServer' }, { name: 'mailservers/status', namespaced: true, kind: 'MailServer' }] }));
    if (req.url === '/apis/apiextensions.k8s.io/v1') return res.end(JSON.stringify({ kind: 'APIResourceList', resources: [{ name: 'customresourcedefinitions', namespaced: false, kind: 'CustomResourceDefinition' }] }));
    if (req.url === '/apis/monitoring.coreos.com/v1') return (res.statusCode = 404), res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' }));
    requests.push({ method: req.method!, url: req.url!, type: req.headers['content-type'], body });
    if (req.url!.includes('/missing')) return (res.statusCode = 404), res.end(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'mailservers.kubemta.io "missing" not found' }));
    res.statusCode = req.method === 'PATCH' && req.url!.includes('/new?') ? 201 : 200;
    res.end(JSON.stringify({ apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', metadata: { name: 'post', namespace: 'ns', creationTimestamp: '2026-12-06T02:00:00Z' }, extra: { kept: true } }));
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const kc = kubeConfigAt(`http://127.0.0.1:${(server.address() as { port: number }).port}`);
  return { kc, requests, connections: () => connections, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
}

describe('operator/kube client', () => {
  it('applies, applies status, merge-patches and deletes at the paths discovery gives, and answers plain JSON', async () => {
    const api = await fakeApiServer();
    try {
      const c = await KubeClient.fromKubeConfig(api.kc);
      const got = await c.get(R, 'ns', 'post');
      assert.equal(got.metadata.creationTimestamp, '2026-12-06T02:00:00Z', 'a string, as in watch events (no Date)');
      assert.deepEqual(got.extra, { kept: true }, 'fields no model knows are kept');
      await c.apply(R, 'ns', { metadata: { name: 'post' }, spec: { hostname: 'a' } }, 'kubemta-operator', { force: true });
      await c.apply(R, 'ns', { metadata: { name: 'post' }, status: { configHash: 'x' } }, 'kubemta-operator', { status: true });
      await c.apply(R, 'ns', { metadata: { name: 'new' }, spec: {} }, 'kubemta-operator');
      await c.patch(R, 'ns', 'post', { metadata: { annotations: { a: 'b' } } });
      await c.delete(R, 'ns', 'post', 'Orphan');
      await c.delete(R, 'ns', 'missing'); // 404: already gone
      const seen = api.requests.map((r) => `${r.method} ${r.url} ${r.type ?? ''}`);
      assert.deepEqual(seen, [
        'GET /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/post ',
        'PATCH /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/post?fieldManager=kubemta-operator&force=true application/apply-patch+yaml',
        'PATCH /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/post/status?fieldManager=kubemta-operator application/apply-patch+yaml',
        'PATCH /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/new?fieldManager=kubemta-operator application/apply-patch+yaml',
        'PATCH /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/post application/merge-patch+json',
        'DELETE /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/post?propagationPolicy=Orphan ',
        'DELETE /apis/kubemta.io/v1alpha1/namespaces/ns/mailservers/missing?propagationPolicy=Background ',
      ]);
      assert.deepEqual(JSON.parse(api.requests[2].body), { apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', metadata: { name: 'post', namespace: 'ns' }, status: { configHash: 'x' } });
      assert.deepEqual(JSON.parse(api.requests[4].body).metadata.annotations, { a: 'b' });
      assert.deepEqual(c.counts, { discovery: 1, get: 1, apply: 2, 'apply-status': 1, patch: 1, delete: 2 });

      assert.ok(c.permissionsUsed.has('kubemta.io/mailservers create'), 'an apply that created (201) needs create');
      assert.ok(c.permissionsUsed.has('kubemta.io/mailservers/status patch'));
      // a built-in kind's body as written: client-node's generated models dropped the x-kubernetes-* keys
      const crd = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
      const schema = { type: 'object', properties: { size: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] } } };
      await c.apply(crd, '', { metadata: { name: 'mailservers.kubemta.io' }, spec: { versions: [{ name: 'v1alpha1', schema: { openAPIV3Schema: schema } }] } }, 'kubemta-tests');
      const sent = api.requests.at(-1)!;
      assert.equal(sent.url, '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/mailservers.kubemta.io?fieldManager=kubemta-tests');
      assert.deepEqual(JSON.parse(sent.body).spec.versions[0].schema.openAPIV3Schema, schema);
      await assert.rejects(c.get(R, 'ns', 'missing'), (e: ApiError) => e instanceof ApiError && e.status === 404 && e.reason === 'NotFound');
      const sm = { group: 'monitoring.coreos.com', version: 'v1', plural: 'servicemonitors', kind: 'ServiceMonitor' };
      await assert.rejects(c.apply(sm, 'ns', { metadata: { name: 'post' } }, 'kubemta-operator'), (e: ApiError) => e instanceof ApiError && e.status === 404, 'a group the server does not serve (CRD not installed)');
      await assert.rejects(c.get({ ...R, kind: 'Nothing' }, 'ns', 'x'), (e: ApiError) => e instanceof ApiError && e.status === 404, 'a kind the group does not serve');
    } finally {
      await api.close();
    }
  });

  it('reuses its connections (client-node 2.0.1 alone opens one per request)', async () => {
    const api = await fakeApiServer();
    try {
      const c = await KubeClient.fromKubeConfig(api.kc);
      const reads = () => Promise.all(Array.from({ length: 8 }, async () => {
        for (let i = 0; i < 25; i++) await c.get(R, 'ns', 'post');
      }));
      await reads();
      const ours = api.connections();
      assert.ok(ours <= 16, `200 requests, 8 at a time, over ${ours} connections`);
      const plain = KubernetesObjectApi.makeApiClient(api.kc);
      for (let i = 0; i < 20; i++) await plain.read({ apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', metadata: { name: 'post', namespace: 'ns' } });
      assert.ok(api.connections() - ours >= 20, `client-node's own pool: ${api.connections() - ours} connections for 20 requests in a row (when this fails, PooledKubeConfig can go)`);
    } finally {
      await api.close();
    }
  });

  it('asks for gzip like client-go (the API server compresses large lists) and reads it, errors included', async () => {
    const asked: (string | undefined)[] = [];
    const server = createServer((req, res) => {
      asked.push(req.headers['accept-encoding']);
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/apis/kubemta.io/v1alpha1') return res.end(JSON.stringify({ kind: 'APIResourceList', resources: [{ name: 'mailservers', namespaced: true, kind: 'MailServer' }] }));
      res.setHeader('Content-Encoding', 'gzip');
      if (req.url!.includes('/missing')) return (res.statusCode = 404), res.end(gzipSync(JSON.stringify({ kind: 'Status', code: 404, reason: 'NotFound', message: 'no such thing' })));
      const items = Array.from({ length: 2000 }, (_, i) => ({ apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', metadata: { name: `s${i}`, namespace: 'ns' } }));
      res.end(gzipSync(JSON.stringify({ kind: 'MailServerList', apiVersion: 'kubemta.io/v1alpha1', metadata: { resourceVersion: '42' }, items })));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const c = await KubeClient.fromKubeConfig(kubeConfigAt(`http://127.0.0.1:${(server.address() as { port: number }).port}`));
      const list = await c.list(R, 'ns');
      assert.deepEqual([list.items.length, list.items[1999].metadata.name, list.resourceVersion], [2000, 's1999', '42']);
      await assert.rejects(c.get(R, 'ns', 'missing'), (e: ApiError) => e instanceof ApiError && e.status === 404 && e.message === '404 NotFound: no such thing');
      assert.ok(asked.every((a) => a === 'gzip'), asked.join(' '));
    } finally {
      await new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r())));
    }
  });

  it('speaks HTTP/1.1 to a server that offers HTTP/2 (not every watch and request on one connection)', async () => {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], { keySize: 2048 });
    const versions: string[] = [];
    const server = createSecureServer({ key: pems.private, cert: pems.cert, allowHTTP1: true }, (req, res) => {
      versions.push(req.httpVersion);
      res.setHeader('Content-Type', 'application/json');
      if (req.url === '/apis/kubemta.io/v1alpha1') return res.end(JSON.stringify({ kind: 'APIResourceList', resources: [{ name: 'mailservers', namespaced: true, kind: 'MailServer' }] }));
      res.end(JSON.stringify({ apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', metadata: { name: 'post', namespace: 'ns' } }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    try {
      const kc = kubeConfigAt(`https://127.0.0.1:${(server.address() as { port: number }).port}`);
      const c = await KubeClient.fromKubeConfig(kc);
      await Promise.all([c.get(R, 'ns', 'post'), c.get(R, 'ns', 'post')]);
      assert.deepEqual([...new Set(versions)], ['1.1']);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
