// The operator's Kubernetes client: get, list, create, replace, server-side apply (also on /status), merge
// patch and delete, on @kubernetes/client-node's KubernetesObjectApi (authentication from its KubeConfig,
// the kind's path from API discovery, its request pipeline). Watches are client-node's ListWatch (informer.ts).
// Every request is counted by verb, so tests and benchmarks can measure API writes per change, and noted
// as the RBAC rule it needs (`apps/statefulsets patch`), so tests can hold the shipped RBAC to exactly that.
//
// What ObjectApi changes in KubernetesObjectApi (2.0.1), and why:
// - answers stay the JSON the API server sent (processResponse): the generated models would turn every
//   timestamp into a Date and drop fields they do not know, while watch events arrive as plain JSON, and
//   the caches must hold one shape;
// - request bodies go as written (create, replace, apply, patch: `write`): its create/replace/patch pass
//   them through the generated models, which read model property names (`xKubernetesIntOrString`) where
//   our objects have the wire names (`x-kubernetes-int-or-string`), so a CRD lost its int-or-string
//   markers and the API server refused it (422); the path still comes from its discovery;
// - errors become ApiError with the Status's code, reason and message;
// - the /status subresource, which KubernetesObjectApi has no call for;
// - list with resourceVersion (its list has no such parameter), in pages when asked (informer.ts);
// - `/version` for the first contact.
// PooledKubeConfig: client-node 2.0.1 builds a new undici Agent for every request, so every request opened
// a TLS connection of its own (400 reads: 416 connections); it keeps one pool, over HTTP/1.1.
// DispatchHttpLibrary: client-node's pluggable HTTP library (`Configuration.httpApi`), sending with undici's
// `request()` on that pool instead of its default, undici's `fetch()` (WHATWG Request, Headers and
// streams around every call): about a third less CPU per request (bench/kube-transport.ts).
import {
  HttpMethod,
  KubeConfig,
  KubernetesObjectApi,
  Observable,
  PatchStrategy,
  ResponseContext,
  type Configuration,
  type HttpLibrary,
  type KubernetesObject,
  type RequestContext,
  type V1APIResource,
} from '@kubernetes/client-node';
import type https from 'node:https';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Agent, getGlobalDispatcher } from 'undici';

export interface Resource {
  group: string; // '' for core
  version: string;
  plural: string;
  kind: string;
}

/** The built-in resources the operator uses; its own kinds are added in operator/api/resources.ts (the
 * transport knows no CRD). */
export const CoreResources = {
  Secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret' },
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap' },
  Service: { group: '', version: 'v1', plural: 'services', kind: 'Service' },
  PersistentVolumeClaim: { group: '', version: 'v1', plural: 'persistentvolumeclaims', kind: 'PersistentVolumeClaim' },
  Event: { group: '', version: 'v1', plural: 'events', kind: 'Event' },
  Pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod' },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment' },
  StatefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet' },
  Job: { group: 'batch', version: 'v1', plural: 'jobs', kind: 'Job' },
  PodDisruptionBudget: { group: 'policy', version: 'v1beta1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget' },
  Lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease' },
} as const satisfies Record<string, Resource>;

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(`${status} ${reason}: ${message}`);
    this.status = status;
    this.reason = reason;
  }
}

export interface KubeObjectLike {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string; uid?: string; generation?: number; labels?: Record<string, string>; annotations?: Record<string, string>; [k: string]: unknown };
  [k: string]: unknown;
}

export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

export interface RequestCounts {
  [verb: string]: number;
}

export const apiVersionOf = (r: Resource): string => (r.group ? `${r.group}/${r.version}` : r.version);

/** A network failure as the error under undici's `fetch failed` (ECONNREFUSED and its code, say), which
 * client-node's discovery rewords (`Failed to fetch resource metadata for …: fetch failed`). */
export function transportError(err: unknown): Error {
  const cause = (err as { cause?: unknown })?.cause;
  if (err instanceof TypeError && /fetch failed$/.test(err.message) && cause instanceof Error) {
    const c = cause as NodeJS.ErrnoException & { errors?: NodeJS.ErrnoException[] };
    const code = c.code ?? c.errors?.[0]?.code;
    return Object.assign(new Error(c.message || c.errors?.[0]?.message || String(code)), { code });
  }
  return err as Error;
}

/** client-node's errors as ours: a kind the server does not serve is a 404, a network failure its cause. */
function asApiError(err: unknown): Error {
  if (err instanceof ApiError) return err;
  if (err instanceof Error && err.message.startsWith('Unrecognized API version and kind')) return new ApiError(404, 'NotFound', err.message);
  return transportError(err);
}

const HTTP_STATUS = Symbol('httpStatus');

type Dispatcher = NonNullable<ReturnType<RequestContext['getDispatcher']>>;

/**
 * client-node's HttpLibrary on undici's `request()`: the request context as client-node built it (URL,
 * method, headers with the credentials, body, abort signal, the pool PooledKubeConfig set), the answer as
 * its ResponseContext. Asks for gzip like client-go does (the API server compresses answers above 128 KB:
 * large lists) and decompresses it.
 */
export class DispatchHttpLibrary implements HttpLibrary {
  send(request: RequestContext): Observable<ResponseContext> {
    return new Observable(this.sendAsync(request));
  }

  private async sendAsync(request: RequestContext): Promise<ResponseContext> {
    const dispatcher = (request.getDispatcher() ?? getGlobalDispatcher()) as unknown as Agent;
    const body = request.getBody();
    const res = await dispatcher.request({
      origin: new URL(request.getUrl()).origin,
      path: request.getUrl().slice(new URL(request.getUrl()).origin.length),
      method: request.getHttpMethod() as unknown as 'GET',
      headers: { 'accept-encoding': 'gzip', ...request.getHeaders() },
      body: typeof body === 'string' ? body : undefined,
      signal: request.getSignal() as AbortSignal | undefined,
    });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const gzip = headers['content-encoding'] === 'gzip';
    const stream: Readable = gzip ? res.body.pipe(createGunzip()) : res.body;
    const bytes = async () => {
      const chunks: Buffer[] = [];
      for await (const c of stream) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    return new ResponseContext(res.statusCode, headers, {
      text: async () => (gzip ? (await bytes()).toString('utf8') : res.body.text()),
      binary: bytes,
      stream: () => Readable.toWeb(stream) as ReadableStream<Uint8Array>,
    });
  }
}

/** KubernetesObjectApi with plain-JSON answers, ApiError, the status subresource and /version (see the top). */
class ObjectApi extends KubernetesObjectApi {
  constructor(configuration: Configuration) {
    super({ ...configuration, httpApi: new DispatchHttpLibrary() });
  }

  /** Called for each discovery request (a group/version not cached yet). */
  onDiscovery: () => void = () => {};

  protected override async processResponse<T extends KubernetesObject>(response: ResponseContext): Promise<T> {
    const text = await response.body.text();
    let body: Record<string, unknown> = {};
    try {
      body = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      body = { message: text.slice(0, 200) };
    }
    const status = response.httpStatusCode;
    if (status >= 200 && status < 300) return Object.defineProperty(body, HTTP_STATUS, { value: status }) as T;
    throw new ApiError(status, (body.reason as string) ?? 'Unknown', (body.message as string) ?? text.slice(0, 200));
  }

  protected override async resource(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    if (!this.apiVersionResourceCache[apiVersion]?.resources.some((r) => r.kind === kind)) this.onDiscovery();
    return super.resource(apiVersion, kind);
  }

  /** The collection's path (`/apis/apps/v1/namespaces/ns/deployments`), from discovery. */
  listPath(apiVersion: string, kind: string, namespace?: string): Promise<string> {
    return this.specUriPath({ apiVersion, kind, metadata: { namespace } }, 'list');
  }

  /** Create (POST), replace (PUT) or patch (PATCH, `contentType` the patch strategy) with the body as
   * written, at the path discovery gives (plus `/status` for the subresource). */
  async write<T extends KubernetesObject>(verb: 'create' | 'replace' | 'patch', spec: T, opts: { contentType?: string; fieldManager?: string; force?: boolean; subresource?: 'status' } = {}): Promise<T> {
    const path = (await this.specUriPath(spec, verb)) + (opts.subresource ? `/${opts.subresource}` : '');
    const method = { create: HttpMethod.POST, replace: HttpMethod.PUT, patch: HttpMethod.PATCH }[verb];
    return this.send<T>(method, path, { fieldManager: opts.fieldManager, force: opts.force || undefined }, JSON.stringify(spec), opts.contentType);
  }

  /** One page of a list (GET on the collection) with the query KubernetesObjectApi.list has no parameter for (resourceVersion). */
  listPage<T extends KubernetesObject>(path: string, query: Record<string, string | undefined>): Promise<T> {
    return this.send<T>(HttpMethod.GET, path, query);
  }

  /** The server's version (`/version` needs no RBAC: any authenticated client may read it). */
  version(): Promise<KubernetesObject & { gitVersion: string }> {
    return this.send(HttpMethod.GET, '/version', {});
  }

  private send<T extends KubernetesObject>(method: HttpMethod, path: string, query: Record<string, string | boolean | undefined>, body?: string, contentType?: string): Promise<T> {
    const ctx: RequestContext = this.configuration.baseServer.makeRequestContext(path, method);
    ctx.setHeaderParam('Accept', 'application/json');
    for (const [k, v] of Object.entries(query)) if (v !== undefined) ctx.setQueryParam(k, String(v));
    if (body !== undefined) {
      ctx.setHeaderParam('Content-Type', contentType ?? 'application/json');
      ctx.setBody(body);
    }
    return this.requestPromise<T>(ctx);
  }
}

/**
 * A KubeConfig whose requests share one connection pool (see the top), over HTTP/1.1 as the transport
 * before it: undici 8 negotiates HTTP/2 where the server offers it, and one pool would then carry every
 * watch and every request on a single connection (seen: one TCP connection for the whole operator),
 * behind one TCP window and undici's younger HTTP/2 code, which nothing here has tested under load. On
 * HTTP/1.1 each watch holds a connection and requests use a pool beside them. The TLS material of a
 * kubeconfig or of the ServiceAccount does not change while the process runs; the bearer token is a
 * header, refreshed as client-node does.
 */
export class PooledKubeConfig extends KubeConfig {
  private pool: Promise<Dispatcher> | undefined;

  static from(kc: KubeConfig): PooledKubeConfig {
    const p = new PooledKubeConfig();
    p.mergeConfig(kc);
    return p;
  }

  override async applySecurityAuthentication(context: RequestContext): Promise<void> {
    await super.applySecurityAuthentication(context);
    const fresh = context.getDispatcher();
    if (!fresh) return;
    this.pool ??= this.http1Pool(fresh);
    context.setDispatcher(await this.pool);
  }

  /** An undici Agent with client-node's TLS options and HTTP/2 off (behind a proxy: client-node's own agent). */
  private async http1Pool(fresh: Dispatcher): Promise<Dispatcher> {
    const o: https.RequestOptions = {};
    await this.applyToHTTPSOptions(o);
    const tls = { ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername };
    const d = this.createDispatcherOptions(this.getCurrentCluster(), tls);
    if (d.type === 'proxy' || d.type === 'socks') return fresh;
    return new Agent({ allowH2: false, connect: { ...(d.type === 'agent' ? d.connect : {}), allowH2: false } }) as unknown as Dispatcher;
  }
}

export class KubeClient {
  readonly kubeConfig: PooledKubeConfig;
  private readonly api: ObjectApi;
  /** Requests by verb (get, list, watch, apply, create, delete, discovery, …) since start. */
  readonly counts: RequestCounts = {};
  /** The RBAC permissions requests needed: `<group>/<resource>[/<sub>] <verb>` (core group: empty). */
  readonly permissionsUsed = new Set<string>();

  private constructor(kc: PooledKubeConfig) {
    this.kubeConfig = kc;
    this.api = kc.makeApiClient(ObjectApi);
    this.api.onDiscovery = () => this.count('discovery');
  }

  static async fromKubeConfig(kc: KubeConfig): Promise<KubeClient> {
    if (!kc.getCurrentCluster()) throw new Error('kubeconfig has no current cluster');
    return new KubeClient(kc instanceof PooledKubeConfig ? kc : PooledKubeConfig.from(kc));
  }

  /** In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config. */
  static async fromEnvironment(kubeconfig?: string): Promise<KubeClient> {
    const kc = new PooledKubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return KubeClient.fromKubeConfig(kc);
  }

  /** A client with another bearer token (tests: act as a ServiceAccount). */
  withToken(token: string): KubeClient {
    const kc = new PooledKubeConfig();
    kc.loadFromClusterAndUser(this.kubeConfig.getCurrentCluster()!, { name: 'token', token });
    return new KubeClient(kc);
  }

  count(verb: string): void {
    this.counts[verb] = (this.counts[verb] ?? 0) + 1;
  }

  /** Notes the permission a request needed, unless it was refused (403: a probe, not a use). */
  permit(status: number, r: Resource, verb: string, sub?: string): void {
    if (status !== 403) this.permissionsUsed.add(`${r.group}/${r.plural}${sub ? `/${sub}` : ''} ${verb}`);
  }

  /** Counts and notes one request; client-node's errors as ApiError (a kind the server does not serve: 404). */
  private async call<T>(perm: { r: Resource; verb: string; sub?: string }, verb: string, send: () => Promise<T>): Promise<T> {
    this.count(verb);
    try {
      const res = await send();
      const status = (res as { [HTTP_STATUS]?: number })?.[HTTP_STATUS] ?? 200;
      this.permit(status, perm.r, perm.verb, perm.sub);
      if (perm.verb === 'patch' && status === 201) this.permit(status, perm.r, 'create'); // an apply that created
      return res;
    } catch (err) {
      if (err instanceof ApiError) this.permit(err.status, perm.r, perm.verb, perm.sub);
      throw asApiError(err);
    }
  }

  private ref(r: Resource, namespace: string | undefined, name: string): KubernetesObject & { metadata: { name: string } } {
    return { apiVersion: apiVersionOf(r), kind: r.kind, metadata: { name, ...(namespace ? { namespace } : {}) } };
  }

  /** The object with the resource's apiVersion and kind, in `namespace` (a cluster-scoped kind ignores it). */
  private full(r: Resource, namespace: string, obj: unknown): KubernetesObject {
    const o = obj as KubeObjectLike;
    return { ...o, apiVersion: apiVersionOf(r), kind: r.kind, metadata: { ...o.metadata, ...(namespace ? { namespace } : {}) } } as KubernetesObject;
  }

  /** The server's URL and version. */
  async version(): Promise<{ server: string; gitVersion: string }> {
    this.count('version');
    try {
      const v = await this.api.version();
      return { server: new URL(this.kubeConfig.getCurrentCluster()!.server).origin, gitVersion: v.gitVersion };
    } catch (err) {
      throw transportError(err);
    }
  }

  get<T extends KubeObjectLike>(r: Resource, namespace: string, name: string): Promise<T> {
    return this.call({ r, verb: 'get' }, 'get', () => this.api.read(this.ref(r, namespace, name))) as Promise<unknown> as Promise<T>;
  }

  /**
   * The collection, in pages of `limit` (continue tokens) when given. `resourceVersion: '0'` lets the API
   * server answer from its watch cache (as client-go's informers list first), without reading etcd;
   * without it the list is a consistent read.
   */
  async list<T extends KubeObjectLike>(r: Resource, namespace?: string, labelSelector?: string, opts: { resourceVersion?: string; limit?: number } = {}): Promise<{ items: T[]; resourceVersion: string }> {
    const path = await this.listPath(r, namespace);
    const items: T[] = [];
    let res: { items: unknown[]; metadata?: { resourceVersion?: string; continue?: string } };
    let next: string | undefined;
    do {
      const query = { labelSelector, resourceVersion: next ? undefined : opts.resourceVersion, limit: opts.limit?.toString(), continue: next };
      res = await this.call({ r, verb: 'list' }, 'list', () => this.api.listPage(path, query));
      for (const i of res.items) items.push(i as T);
      next = res.metadata?.continue || undefined;
    } while (next);
    for (const i of items) {
      i.apiVersion ??= apiVersionOf(r);
      i.kind ??= r.kind;
    }
    return { items, resourceVersion: res.metadata?.resourceVersion ?? '' };
  }

  /** The collection's path for a watch (informer.ts), from discovery. */
  async listPath(r: Resource, namespace?: string): Promise<string> {
    try {
      return await this.api.listPath(apiVersionOf(r), r.kind, namespace || undefined);
    } catch (err) {
      throw asApiError(err);
    }
  }

  create<T extends KubeObjectLike>(r: Resource, namespace: string, obj: unknown): Promise<T> {
    return this.call({ r, verb: 'create' }, 'create', () => this.api.write('create', this.full(r, namespace, obj))) as Promise<unknown> as Promise<T>;
  }

  /** Replace (PUT) with the object's resourceVersion: 409 when someone wrote in between. */
  update<T extends KubeObjectLike>(r: Resource, namespace: string, obj: KubeObjectLike): Promise<T> {
    return this.call({ r, verb: 'update' }, 'update', () => this.api.write('replace', this.full(r, namespace, obj))) as Promise<unknown> as Promise<T>;
  }

  /** Server-side apply with our field manager; `force` takes over fields another manager owns. An apply that creates needs `create` too. */
  apply<T extends KubeObjectLike>(r: Resource, namespace: string, obj: KubeObjectLike, fieldManager: string, opts: { force?: boolean; status?: boolean } = {}): Promise<T> {
    const spec = this.full(r, namespace, obj);
    const how = { contentType: PatchStrategy.ServerSideApply, fieldManager, force: opts.force, subresource: opts.status ? ('status' as const) : undefined };
    const perm = { r, verb: 'patch', sub: how.subresource };
    return this.call(perm, opts.status ? 'apply-status' : 'apply', () => this.api.write('patch', spec, how)) as Promise<unknown> as Promise<T>;
  }

  /** JSON merge patch (RFC 7386) of an existing object, e.g. one annotation; never creates (404). */
  patch<T extends KubeObjectLike>(r: Resource, namespace: string, name: string, body: { metadata?: object; [k: string]: unknown }): Promise<T> {
    const ref = this.ref(r, namespace, name);
    const spec = { ...body, ...ref, metadata: { ...body.metadata, ...ref.metadata } };
    return this.call({ r, verb: 'patch' }, 'patch', () => this.api.write('patch', spec, { contentType: PatchStrategy.MergePatch })) as Promise<unknown> as Promise<T>;
  }

  async delete(r: Resource, namespace: string, name: string, propagation: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<void> {
    try {
      await this.call({ r, verb: 'delete' }, 'delete', () => this.api.delete(this.ref(r, namespace, name), undefined, undefined, undefined, undefined, propagation));
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }
}
