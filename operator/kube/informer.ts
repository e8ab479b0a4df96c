// A supervised list+watch cache per resource: lists, then watches from the list's resourceVersion;
// when the watch ends it resumes from the last version seen, and on 410 Gone (version too old) it
// relists and reports the difference as events. Its health (synced, last error) is exposed, because
// a watch that silently stops is the classic controller bug.
import type { Logger } from 'pino';
import { ApiError, type KubeClient, type KubeObjectLike, type Resource, type WatchEvent } from './client.ts';
import { backoffDelay, pause, type Backoff } from './backoff.ts';

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
  private readonly log: Pick<Logger, 'warn' | 'info'> | undefined;
  private readonly retryMs: Backoff;
  private syncedOnce: Promise<void>;
  private markSynced!: () => void;
  readonly health: InformerHealth;

  /** `log`: a warning per failed list or watch (error, next retry), a line when it works again. */
  constructor(client: KubeClient, resource: Resource, opts: { namespace?: string; labelSelector?: string; log?: Pick<Logger, 'warn' | 'info'>; retryMs?: Backoff } = {}) {
    this.client = client;
    this.log = opts.log;
    this.retryMs = opts.retryMs ?? { first: 1000, max: 30_000 };
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
    let failures = 0; // in a row: the pause doubles with each, up to retryMs.max
    while (!this.abort.signal.aborted) {
      try {
        if (needList) await this.relist();
        needList = false;
        if (failures) this.log?.info({ resource: this.resource.plural, failures }, 'list and watch work again');
        failures = 0;
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
        // jitter: a dozen informers that failed together do not all retry in the same instant
        const delay = Math.round(backoffDelay(failures, this.retryMs) * (1 + Math.random() / 2));
        failures++;
        this.log?.warn({ resource: this.resource.plural, err: (err as Error).message, code: (err as NodeJS.ErrnoException).code, attempt: failures, retryInMs: delay }, 'list or watch failed; retrying with backoff');
        await pause(delay, this.abort.signal);
      }
    }
  }

  stop(): void {
    this.abort.abort();
  }
}
