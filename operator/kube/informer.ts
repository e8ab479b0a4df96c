// A supervised list+watch cache per resource: lists, then watches from the list's resourceVersion;
// when the watch ends it resumes from the last version seen, and on 410 Gone (version too old) it
// relists and reports the difference as events. Its health (synced, last error) is exposed, because
// a watch that silently stops is the classic controller bug.
import { ApiError, type KubeClient, type KubeObjectLike, type Resource, type WatchEvent } from './client.ts';

export interface InformerHealth {
  resource: string;
  synced: boolean;
  relists: number;
  restarts: number;
  lastError?: string;
}

export class Informer<T extends KubeObjectLike = KubeObjectLike> {
  readonly resource: Resource;
  private readonly client: KubeClient;
  private readonly namespace: string | undefined;
  private readonly labelSelector: string | undefined;
  private readonly cache = new Map<string, T>();
  private readonly handlers: ((e: WatchEvent<T>, old: T | undefined) => void)[] = [];
  private readonly abort = new AbortController();
  private rv = '';
  private syncedOnce: Promise<void>;
  private markSynced!: () => void;
  readonly health: InformerHealth;

  constructor(client: KubeClient, resource: Resource, opts: { namespace?: string; labelSelector?: string } = {}) {
    this.client = client;
    this.resource = resource;
    this.namespace = opts.namespace;
    this.labelSelector = opts.labelSelector;
    this.health = { resource: resource.plural, synced: false, relists: 0, restarts: 0 };
    this.syncedOnce = new Promise((r) => (this.markSynced = r));
  }

  static key(o: { metadata: { namespace?: string; name: string } }): string {
    return `${o.metadata.namespace ?? ''}/${o.metadata.name}`;
  }

  /** Called for every change, with the object as it was before (undefined when new). */
  on(handler: (e: WatchEvent<T>, old: T | undefined) => void): void {
    this.handlers.push(handler);
  }

  get(namespace: string, name: string): T | undefined {
    return this.cache.get(`${namespace}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** Resolves after the first full list. */
  synced(): Promise<void> {
    return this.syncedOnce;
  }

  private apply(e: WatchEvent<T>): void {
    const k = Informer.key(e.object);
    const old = this.cache.get(k);
    if (e.type === 'DELETED') this.cache.delete(k);
    else this.cache.set(k, e.object);
    for (const h of this.handlers) h(e, old);
  }

  private async relist(): Promise<void> {
    const { items, resourceVersion } = await this.client.list<T>(this.resource, this.namespace, this.labelSelector);
    const seen = new Set<string>();
    for (const o of items) {
      const k = Informer.key(o);
      seen.add(k);
      const old = this.cache.get(k);
      if (!old || old.metadata.resourceVersion !== o.metadata.resourceVersion) this.apply({ type: old ? 'MODIFIED' : 'ADDED', object: o });
    }
    for (const [k, o] of [...this.cache]) if (!seen.has(k)) this.apply({ type: 'DELETED', object: o });
    this.rv = resourceVersion;
    this.health.relists++;
    this.health.synced = true;
    this.markSynced();
  }

  /** Runs until stop(): list, watch, resume or relist, with a pause after errors. */
  async run(): Promise<void> {
    let needList = true;
    while (!this.abort.signal.aborted) {
      try {
        if (needList) await this.relist();
        needList = false;
        this.rv = await this.client.watch<T>(this.resource, this.namespace, this.rv, (e) => this.apply(e), this.abort.signal, this.labelSelector);
        this.health.restarts++;
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.health.lastError = (err as Error).message;
        if (err instanceof ApiError && err.status === 410) {
          needList = true; // expired: relist, no pause
          continue;
        }
        needList = true;
        await new Promise((r) => setTimeout(r, 1000 + Math.random() * 1000));
      }
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
