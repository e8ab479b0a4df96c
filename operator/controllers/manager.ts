// The operator process: watch caches for the five kinds, the Secrets they name and the objects it owns;
// a work queue per kind; leader election (only the leader reconciles); /metrics, /healthz, /readyz.
import { createServer, type Server } from 'node:http';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { type KubeClient, type KubeObjectLike, type WatchEvent } from '../kube/client.ts';
import { Informer } from '../kube/informer.ts';
import { WorkQueue, type Reconcile } from '../kube/workqueue.ts';
import { connectToApiServer } from '../kube/connect.ts';
import { LeaderElector } from '../kube/leader.ts';
import { Labels, MANAGED_BY } from '../render/workload.ts';
import type { CachedKind, ControllerContext } from './context.ts';
import { EventRecorder } from './events.ts';
import { OperatorMetrics } from './metrics.ts';
import { reconcileMailServer } from './mailserver.ts';
import { reconcileListener, reconcileMailDomain, reconcileVirtualUser } from './members.ts';
import { PKI_LABEL, reconcilePkiCert } from './pkicert.ts';
import { reconcileDkimKeys } from './dkim-keys.ts';
import { reconcileDomainDns } from './domain-dns.ts';
import { emptyDomainDnsState } from './domain-dns-state.ts';
import { MAILDOMAIN_LABEL } from '../render/dkim-keys.ts';
import { serverKeyOf } from './snapshot.ts';
import { STALL_AFTER_MS } from './rollout.ts';
import { Resources } from '../api/resources.ts';

export interface ManagerOptions {
  client: KubeClient;
  log: Logger;
  /** Watch one namespace (a Role suffices), or all (a ClusterRole). */
  namespace?: string;
  leaderElection?: { namespace: string; name: string; identity?: string; leaseSeconds?: number; renewSeconds?: number } | false;
  /** 0 picks a free port; undefined: no HTTP server. */
  httpPort?: number;
  httpAddress?: string;
  workers?: number;
  now?: () => Date;
  /** Check rollout and each relay's served config before Ready (default true); see ControllerContext.relayCheck. */
  relayCheck?: boolean;
  /** Default STALL_AFTER_MS (60 s). */
  stallAfterMs?: number;
}

type Kind = 'MailServer' | 'Listener' | 'PkiCert' | 'MailDomain' | 'VirtualUser';
const KINDS: Kind[] = ['MailServer', 'Listener', 'PkiCert', 'MailDomain', 'VirtualUser'];
/** Queues of the MailDomain's own controllers, keyed by MailDomain like its status queue. */
type DomainQueue = 'DkimKeys' | 'DomainDns';
type Queue = Kind | DomainQueue;
const QUEUES: Queue[] = [...KINDS, 'DkimKeys', 'DomainDns'];

function specChanged(e: WatchEvent<KubeObjectLike>, old: KubeObjectLike | undefined): boolean {
  if (e.type !== 'MODIFIED' || !old) return true;
  return old.metadata.generation !== e.object.metadata.generation || JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(e.object.metadata.labels ?? {});
}

export class Manager {
  readonly ctx: ControllerContext;
  readonly queues: Record<Queue, WorkQueue>;
  private readonly opts: ManagerOptions;
  private readonly elector: LeaderElector | undefined;
  private http: Server | undefined;
  private running: Promise<unknown>[] = [];
  private working = false;
  port = 0;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    const client = opts.client;
    const ns = opts.namespace;
    const managed = `${Labels.managedBy}=${MANAGED_BY}`;
    const log = opts.log;
    const informers = {
      MailServer: new Informer(client, Resources.MailServer, { namespace: ns, log }),
      Listener: new Informer(client, Resources.Listener, { namespace: ns, log }),
      PkiCert: new Informer(client, Resources.PkiCert, { namespace: ns, log }),
      MailDomain: new Informer(client, Resources.MailDomain, { namespace: ns, log }),
      VirtualUser: new Informer(client, Resources.VirtualUser, { namespace: ns, log }),
      Secret: new Informer(client, Resources.Secret, { namespace: ns, log }),
      ConfigMap: new Informer(client, Resources.ConfigMap, { namespace: ns, labelSelector: managed, log }),
      Service: new Informer(client, Resources.Service, { namespace: ns, labelSelector: managed, log }),
      Deployment: new Informer(client, Resources.Deployment, { namespace: ns, labelSelector: managed, log }),
      StatefulSet: new Informer(client, Resources.StatefulSet, { namespace: ns, labelSelector: managed, log }),
      PersistentVolumeClaim: new Informer(client, Resources.PersistentVolumeClaim, { namespace: ns, labelSelector: managed, log }),
      PodDisruptionBudget: new Informer(client, Resources.PodDisruptionBudget, { namespace: ns, labelSelector: managed, log }),
    } satisfies Record<CachedKind, Informer>;
    const metrics = new OperatorMetrics(QUEUES);
    this.queues = Object.fromEntries(QUEUES.map((k) => [k, new WorkQueue()])) as Record<Queue, WorkQueue>;
    this.ctx = {
      client,
      informers,
      events: new EventRecorder(client),
      metrics,
      log: opts.log,
      verdicts: new Map(),
      validated: new WeakMap(),
      enqueue: (kind, key) => this.queues[kind].add(key),
      now: opts.now ?? (() => new Date()),
      nudged: new Map(),
      relayCheck: opts.relayCheck ?? true,
      stallAfterMs: opts.stallAfterMs ?? STALL_AFTER_MS,
      notLoaded: new Map(),
      drainJobs: new Map(),
      statusWritten: new Map(),
      domainDns: emptyDomainDnsState(),
      monitors: new Map(),
    };
    if (opts.leaderElection) {
      const le = opts.leaderElection;
      this.elector = new LeaderElector(client, {
        namespace: le.namespace,
        name: le.name,
        identity: le.identity ?? `${hostname()}-${randomUUID().slice(0, 8)}`,
        leaseSeconds: le.leaseSeconds ?? 15,
        renewSeconds: le.renewSeconds ?? 5,
      });
    }
    this.wireEvents();
  }

  private wireEvents(): void {
    const { informers } = this.ctx;
    const enqueueServer = (key: string | undefined) => key && this.queues.MailServer.add(key);
    const serversIn = (ns: string | undefined) => informers.MailServer.list(ns).forEach((s) => enqueueServer(`${s.metadata.namespace}/${s.metadata.name}`));
    for (const kind of KINDS) {
      informers[kind].on((e, old) => {
        if (!specChanged(e, old)) return;
        this.opts.log.debug({ kind, type: e.type, name: e.object.metadata.name, generation: e.object.metadata.generation }, 'event');
        const key = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
        if (kind === 'MailServer') return enqueueServer(key);
        if (kind === 'PkiCert') {
          this.queues.PkiCert.add(key);
          return serversIn(e.object.metadata.namespace);
        }
        enqueueServer(serverKeyOf(this.ctx, e.object));
        if (old) enqueueServer(serverKeyOf(this.ctx, old));
        if (kind === 'MailDomain') {
          // its users follow it (a domain that appears turns orphans into members)
          for (const u of informers.VirtualUser.list(e.object.metadata.namespace)) {
            if ((u.spec as { mailDomainRef?: { name?: string } }).mailDomainRef?.name === e.object.metadata.name) this.queues.VirtualUser.add(`${u.metadata.namespace}/${u.metadata.name}`);
          }
        }
        this.queues[kind].add(key);
      });
    }
    this.wireDomainEvents();
    informers.Secret.on((e, old) => {
      const s = e.object;
      const ns = s.metadata.namespace;
      const pki = s.metadata.labels?.[PKI_LABEL];
      if (pki) this.queues.PkiCert.add(`${ns}/${pki}`);
      const server = s.metadata.labels?.[Labels.server];
      if (server && s.metadata.labels?.[Labels.managedBy] === MANAGED_BY) {
        enqueueServer(`${ns}/${server}`); // our own table Secret: a deletion or someone else's edit is undone
        return;
      }
      if (!this.secretReferenced(ns, s.metadata.name)) return;
      for (const p of informers.PkiCert.list(ns)) if ((p.spec as { secretName?: string }).secretName === s.metadata.name) this.queues.PkiCert.add(`${ns}/${p.metadata.name}`);
      serversIn(ns);
    });
    for (const kind of ['ConfigMap', 'Service', 'Deployment', 'StatefulSet', 'PersistentVolumeClaim', 'PodDisruptionBudget'] as const) {
      informers[kind].on((e, old) => {
        const server = e.object.metadata.labels?.[Labels.server];
        // any change to what we own gets a look (our own writes cost one render that writes nothing)
        if (server && (e.type !== 'MODIFIED' || old?.metadata.resourceVersion !== e.object.metadata.resourceVersion)) enqueueServer(`${e.object.metadata.namespace}/${server}`);
      });
    }
  }

  /**
   * A MailDomain's key and DNS controllers: its keys follow its spec, its server's (relayFrom decides
   * whether it sends mail out) and its key Secret; its DNS check and DNSEndpoint follow its dnsRecords.
   */
  private wireDomainEvents(): void {
    const { informers } = this.ctx;
    const keyOf = (o: KubeObjectLike) => `${o.metadata.namespace}/${o.metadata.name}`;
    const records = (o: KubeObjectLike | undefined) => JSON.stringify((o?.status as { dnsRecords?: unknown } | undefined)?.dnsRecords ?? null);
    informers.MailDomain.on((e, old) => {
      const key = keyOf(e.object);
      if (specChanged(e, old)) this.queues.DkimKeys.add(key);
      if (specChanged(e, old) || records(e.object) !== records(old)) this.queues.DomainDns.add(key);
    });
    informers.MailServer.on((e, old) => {
      if (!specChanged(e, old)) return;
      for (const d of informers.MailDomain.list(e.object.metadata.namespace)) {
        if ((d.spec as { mailServerRef?: { name?: string } }).mailServerRef?.name === e.object.metadata.name) this.queues.DkimKeys.add(keyOf(d));
      }
    });
    informers.Secret.on((e) => {
      const d = e.object.metadata.labels?.[MAILDOMAIN_LABEL];
      if (d) this.queues.DkimKeys.add(`${e.object.metadata.namespace}/${d}`);
    });
  }

  /** Whether any kubemta object in the namespace names this Secret. */
  private secretReferenced(ns: string | undefined, name: string): boolean {
    const i = this.ctx.informers;
    const refs = (o: KubeObjectLike) => JSON.stringify(o.spec ?? {});
    const needle = `"name":"${name}"`;
    if (i.PkiCert.list(ns).some((p) => (p.spec as { secretName?: string }).secretName === name || `${p.metadata.name}-tls` === name)) return true;
    return [...i.Listener.list(ns), ...i.VirtualUser.list(ns), ...i.MailServer.list(ns)].some((o) => refs(o).includes(needle));
  }

  private reconciler(kind: Queue): Reconcile {
    const fn = {
      MailServer: reconcileMailServer,
      Listener: reconcileListener,
      PkiCert: reconcilePkiCert,
      MailDomain: reconcileMailDomain,
      VirtualUser: reconcileVirtualUser,
      DkimKeys: reconcileDkimKeys,
      DomainDns: reconcileDomainDns,
    }[kind] as (ctx: ControllerContext, key: string) => Promise<{ requeueAfterMs?: number } | void>;
    return async (key) => {
      const end = this.ctx.metrics.duration.startTimer({ kind });
      try {
        const r = await fn(this.ctx, key);
        this.ctx.metrics.reconciles.inc({ kind, result: 'ok' });
        return r;
      } catch (err) {
        this.ctx.metrics.reconciles.inc({ kind, result: 'error' });
        throw err;
      } finally {
        end();
      }
    };
  }

  private readonly stopping = new AbortController();

  healthy(): boolean {
    return Object.values(this.ctx.informers).every((i) => i.health.synced);
  }

  async start(): Promise<void> {
    if (this.opts.httpPort !== undefined) await this.startHttp(this.opts.httpPort, this.opts.httpAddress ?? '0.0.0.0');
    await connectToApiServer(this.opts.client, this.opts.log, { signal: this.stopping.signal });
    const infs = Object.values(this.ctx.informers);
    this.running.push(...infs.map((i) => i.run()));
    await Promise.all(infs.map((i) => i.synced()));
    this.opts.log.info({ namespace: this.opts.namespace ?? '(all)' }, 'caches synced');
    if (this.elector) {
      this.elector.run(
        () => {
          this.opts.log.info('elected leader');
          this.ctx.metrics.leader.set(1);
          this.startWork();
        },
        () => {
          this.opts.log.warn('lost the lease; stopping work');
          this.ctx.metrics.leader.set(0);
          this.stopWork();
        },
        (err) => this.opts.log.warn({ err: err.message }, 'leader election'),
      );
    } else this.startWork();
  }

  private startWork(): void {
    if (this.working) return;
    this.working = true;
    const workers = this.opts.workers ?? 4;
    for (const kind of QUEUES) {
      const q = (this.queues[kind] = new WorkQueue());
      // start work after the full list: every object gets one turn
      const informerKind = kind === 'DkimKeys' || kind === 'DomainDns' ? 'MailDomain' : kind;
      for (const o of this.ctx.informers[informerKind].list(this.opts.namespace)) q.add(`${o.metadata.namespace}/${o.metadata.name}`);
      this.running.push(
        q.run(this.reconciler(kind), kind === 'MailServer' || kind === 'PkiCert' ? 2 : workers, (key, err) =>
          this.opts.log.warn({ kind, key, err: err.message.slice(0, 300) }, 'reconcile failed; retrying with backoff'),
        ),
      );
    }
  }

  private stopWork(): void {
    this.working = false;
    for (const q of Object.values(this.queues)) q.stop();
  }

  /** Resolves when every queue is empty and nothing is in flight (tests). */
  async idle(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    let quiet = 0;
    while (Date.now() < end) {
      const busy = Object.values(this.queues).some((q) => !q.idle);
      quiet = busy ? 0 : quiet + 1;
      if (quiet >= 3) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('operator did not become idle');
  }

  private startHttp(port: number, address: string): Promise<void> {
    this.http = createServer(async (req, res) => {
      if (req.url === '/metrics') {
        for (const [verb, n] of Object.entries(this.ctx.client.counts)) this.ctx.metrics.apiRequests.set({ verb }, n);
        for (const i of Object.values(this.ctx.informers)) this.ctx.metrics.informerSynced.set({ resource: i.health.resource }, i.health.synced ? 1 : 0);
        res.setHeader('Content-Type', this.ctx.metrics.registry.contentType);
        res.end(await this.ctx.metrics.registry.metrics());
      } else if (req.url === '/healthz' || req.url === '/readyz') {
        const ok = this.healthy();
        res.statusCode = ok ? 200 : 503;
        res.end(ok ? 'ok\n' : JSON.stringify(Object.values(this.ctx.informers).map((i) => i.health)) + '\n');
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    return new Promise((resolve) =>
      this.http!.listen(port, address, () => {
        this.port = (this.http!.address() as { port: number }).port;
        resolve();
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.stopWork();
    await this.elector?.stop();
    for (const i of Object.values(this.ctx.informers)) i.stop();
    await Promise.allSettled(this.running);
    await new Promise<void>((r) => (this.http ? this.http.close(() => r()) : r()));
  }
}
