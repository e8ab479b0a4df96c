// A small Kubernetes REST client: list, watch, server-side apply (also on /status), delete, create.
// Authentication and TLS come from @kubernetes/client-node's KubeConfig (in-cluster ServiceAccount or
// KUBECONFIG); requests are plain HTTPS so apply-patch and /status work without generated-client gaps.
// Every request is counted by verb, so tests and benchmarks can measure API writes per change, and noted
// as the RBAC rule it needs (`apps/statefulsets patch`), so tests can hold the shipped RBAC to exactly that.
import { request as httpsRequest, Agent, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

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

export function resourcePath(r: Resource, namespace?: string, name?: string, sub?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return `${base}${namespace ? `/namespaces/${namespace}` : ''}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ''}${sub ? `/${sub}` : ''}`;
}

export class KubeClient {
  private readonly server: URL;
  private readonly opts: RequestOptions;
  /** Requests by verb (get, list, watch, apply, create, delete, …) since start. */
  readonly counts: RequestCounts = {};
  /** The RBAC permissions requests needed: `<group>/<resource>[/<sub>] <verb>` (core group: empty). */
  readonly permissionsUsed = new Set<string>();

  private constructor(server: URL, opts: RequestOptions) {
    this.server = server;
    this.opts = opts;
  }

  static async fromKubeConfig(kc: KubeConfig): Promise<KubeClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    opts.agent = new Agent({ keepAlive: true, maxSockets: 16, ca: opts.ca, cert: opts.cert, key: opts.key, rejectUnauthorized: opts.rejectUnauthorized });
    return new KubeClient(new URL(cluster.server), opts);
  }

  /** In a pod: the ServiceAccount; elsewhere: $KUBECONFIG or ~/.kube/config. */
  static async fromEnvironment(kubeconfig?: string): Promise<KubeClient> {
    const kc = new KubeConfig();
    if (kubeconfig) kc.loadFromFile(kubeconfig);
    else kc.loadFromDefault();
    return KubeClient.fromKubeConfig(kc);
  }

  /** A client with another bearer token (tests: act as a ServiceAccount). */
  withToken(token: string): KubeClient {
    const headers = { ...(this.opts.headers as Record<string, string>), Authorization: `Bearer ${token}` };
    const { cert: _c, key: _k, auth: _a, ...rest } = this.opts;
    const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: this.opts.ca });
    return new KubeClient(this.server, { ...rest, agent, headers });
  }

  private watchAgentCache: Agent | undefined;
  private watchAgent(): Agent {
    const base = this.opts.agent as Agent;
    this.watchAgentCache ??= new Agent({ ...base.options, keepAlive: false, maxSockets: Infinity });
    return this.watchAgentCache;
  }

  private count(verb: string): void {
    this.counts[verb] = (this.counts[verb] ?? 0) + 1;
  }

  /** Notes the permission a request needed, unless it was refused (403: a probe, not a use). */
  private permit(status: number, r: Resource, verb: string, sub?: string): void {
    if (status !== 403) this.permissionsUsed.add(`${r.group}/${r.plural}${sub ? `/${sub}` : ''} ${verb}`);
  }

  private raw(method: string, path: string, body?: string, contentType = 'application/json', onStream?: (chunk: Buffer) => void, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.server);
    const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(
        url,
        {
          ...this.opts,
          // a watch holds its connection for minutes: never from the pool requests wait on
          ...(onStream ? { agent: this.watchAgent() } : {}),
          method,
          signal,
          headers: { ...(this.opts.headers as Record<string, string>), Accept: 'application/json', ...(body !== undefined ? { 'Content-Type': contentType, 'Content-Length': String(Buffer.byteLength(body)) } : {}) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => (onStream && res.statusCode === 200 ? onStream(c) : chunks.push(c)));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
          res.on('error', reject);
        },
      );
      r.on('error', reject);
      if (body !== undefined) r.write(body);
      r.end();
    });
  }

  private async json<T>(perm: { r: Resource; verb: string; sub?: string }, verb: string, method: string, path: string, body?: unknown, contentType?: string): Promise<T> {
    this.count(verb);
    const res = await this.raw(method, path, body === undefined ? undefined : JSON.stringify(body), contentType);
    this.permit(res.status, perm.r, perm.verb, perm.sub);
    if (perm.verb === 'patch' && res.status === 201) this.permit(res.status, perm.r, 'create'); // an apply that created
    const parsed = res.text ? JSON.parse(res.text) : {};
    if (res.status >= 300) throw new ApiError(res.status, parsed.reason ?? 'Unknown', parsed.message ?? res.text.slice(0, 200));
    return parsed as T;
  }

  /** The server's URL and version (`/version` needs no RBAC: any authenticated client may read it). */
  async version(): Promise<{ server: string; gitVersion: string }> {
    this.count('version');
    const res = await this.raw('GET', '/version');
    if (res.status >= 300) throw new ApiError(res.status, 'Unknown', res.text.slice(0, 200));
    return { server: this.server.origin, gitVersion: (JSON.parse(res.text) as { gitVersion: string }).gitVersion };
  }

  get<T extends KubeObjectLike>(r: Resource, namespace: string, name: string): Promise<T> {
    return this.json({ r, verb: 'get' }, 'get', 'GET', resourcePath(r, namespace, name));
  }

  async list<T extends KubeObjectLike>(r: Resource, namespace?: string, labelSelector?: string): Promise<{ items: T[]; resourceVersion: string }> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const res = await this.json<{ items: T[]; metadata: { resourceVersion: string } }>({ r, verb: 'list' }, 'list', 'GET', resourcePath(r, namespace) + q);
    for (const i of res.items) {
      i.apiVersion ??= r.group ? `${r.group}/${r.version}` : r.version;
      i.kind ??= r.kind;
    }
    return { items: res.items, resourceVersion: res.metadata.resourceVersion };
  }

  create<T extends KubeObjectLike>(r: Resource, namespace: string, obj: unknown): Promise<T> {
    return this.json({ r, verb: 'create' }, 'create', 'POST', resourcePath(r, namespace), obj);
  }

  /** Replace (PUT) with the object's resourceVersion: 409 when someone wrote in between. */
  update<T extends KubeObjectLike>(r: Resource, namespace: string, obj: KubeObjectLike, sub?: string): Promise<T> {
    return this.json({ r, verb: 'update', sub }, 'update', 'PUT', resourcePath(r, namespace, obj.metadata.name, sub), obj);
  }

  /** Server-side apply with our field manager; `force` takes over fields another manager owns. An apply that creates needs `create` too. */
  apply<T extends KubeObjectLike>(r: Resource, namespace: string, obj: KubeObjectLike, fieldManager: string, opts: { force?: boolean; status?: boolean } = {}): Promise<T> {
    const q = `?fieldManager=${encodeURIComponent(fieldManager)}${opts.force ? '&force=true' : ''}`;
    const sub = opts.status ? 'status' : undefined;
    return this.json({ r, verb: 'patch', sub }, opts.status ? 'apply-status' : 'apply', 'PATCH', resourcePath(r, namespace, obj.metadata.name, sub) + q, obj, 'application/apply-patch+yaml');
  }

  /** JSON merge patch (RFC 7386) of an existing object, e.g. one annotation; never creates (404). */
  patch<T extends KubeObjectLike>(r: Resource, namespace: string, name: string, body: unknown): Promise<T> {
    return this.json({ r, verb: 'patch' }, 'patch', 'PATCH', resourcePath(r, namespace, name), body, 'application/merge-patch+json');
  }

  async delete(r: Resource, namespace: string, name: string, propagation: 'Background' | 'Foreground' | 'Orphan' = 'Background'): Promise<void> {
    try {
      await this.json({ r, verb: 'delete' }, 'delete', 'DELETE', resourcePath(r, namespace, name), { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: propagation });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
  }

  /**
   * Streams watch events from resourceVersion until the server closes the stream or `signal` aborts.
   * Resolves with the last resourceVersion seen; rejects with ApiError 410 when it is too old (relist).
   */
  async watch<T extends KubeObjectLike>(r: Resource, namespace: string | undefined, resourceVersion: string, onEvent: (e: WatchEvent<T>) => void, signal?: AbortSignal, labelSelector?: string): Promise<string> {
    this.count('watch');
    let rv = resourceVersion;
    let buf = '';
    let gone: ApiError | undefined;
    const q = `?watch=1&allowWatchBookmarks=true&timeoutSeconds=${240 + Math.floor(Math.random() * 60)}&resourceVersion=${rv}${labelSelector ? `&labelSelector=${encodeURIComponent(labelSelector)}` : ''}`;
    const res = await this.raw('GET', resourcePath(r, namespace) + q, undefined, undefined, (chunk) => {
      buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (!line.trim()) continue;
        const e = JSON.parse(line) as WatchEvent<T & { code?: number; reason?: string; message?: string }>;
        if (e.type === 'ERROR') {
          const st = e.object as unknown as { code: number; reason: string; message: string };
          gone = new ApiError(st.code, st.reason, st.message);
          continue;
        }
        rv = e.object.metadata.resourceVersion ?? rv;
        if (e.type === 'BOOKMARK') continue;
        e.object.apiVersion ??= r.group ? `${r.group}/${r.version}` : r.version;
        e.object.kind ??= r.kind;
        onEvent(e);
      }
    }, signal).catch((err: Error) => {
      if (signal?.aborted) return { status: 200, text: '' };
      throw err;
    });
    this.permit(res.status, r, 'watch');
    if (res.status >= 300) {
      const parsed = res.text ? JSON.parse(res.text) : {};
      throw new ApiError(res.status, parsed.reason ?? 'Unknown', parsed.message ?? '');
    }
    if (gone) throw gone;
    return rv;
  }
}
