// Starts a relay from a config file: queue recovery, certificates, tables, listeners, the ops port, the
// control socket, hot reload (SIGHUP and file changes) and graceful shutdown (SIGTERM).
import type { Server } from 'node:http';
import type { Server as NetServer } from 'node:net';
import { ConfigError, loadConfig, type LoadedConfig } from './config/load.ts';
import { loadTables } from './lookup/tables.ts';
import { authenticatedRelayPolicy } from './lookup/policy.ts';
import { loadPkiSet } from './smtp/pki.ts';
import { QueueStore } from './queue/fs.ts';
import { startControl } from './queue/control.ts';
import { runAdmin } from './queue/admin.ts';
import { QueueHealthCheck } from './queue/health.ts';
import { createLogger, type Logger } from './ops/log.ts';
import { RelayMetrics } from './ops/metrics.ts';
import { startHttp } from './ops/http.ts';
import { FileWatcher } from './ops/watch.ts';
import { returnMemoryAfterBursts } from './ops/memory.ts';
import { closeListener, reconcileListeners, startListeners, type RunningListener } from './smtp/listeners.ts';
import type { Relay, Snapshot } from './runtime.ts';
import { Scheduler } from './scheduler/scheduler.ts';
import { buildAgents } from './deliver/agents.ts';
import { bounceHandlers } from './deliver/bounce.ts';
import { dkimKeyProblems } from './deliver/dkim.ts';
import { buildPolicy } from './lookup/rules.ts';
import { AuthLimiter } from './auth/limiter.ts';
import { RateLimiter } from './limits/rates.ts';
import { watchDrain } from './drain.ts';

export interface RunningRelay {
  relay: Relay;
  listeners: RunningListener[];
  http?: Server;
  /** Ports actually bound, by listener name (port 0 in the config picks a free one). */
  ports: Record<string, number>;
  httpPort?: number;
  reload(): Promise<boolean>;
  stop(): Promise<void>;
  /** In drain mode: resolves once the queue is empty and the relay has stopped. */
  drained?: Promise<void>;
}

export interface StartOptions {
  sets?: string[];
  logger?: Logger;
  /** Install SIGHUP/SIGTERM/SIGINT handlers (the CLI does; tests that embed a relay do not). */
  signals?: boolean;
  /** Drain mode (relay/drain.ts): no listeners and no reloads; deliver the queue, stop once it is empty. */
  drain?: boolean;
}

/**
 * Everything the relay loads before it serves: certificates, tables, the policy. `kubemta check` runs this
 * too (create: false, nothing written), so a config that checks clean also starts.
 */
export async function buildSnapshot(loaded: LoadedConfig, { create = true } = {}): Promise<Snapshot> {
  const config = loaded.config;
  const [pki, tables, dkim] = await Promise.all([loadPkiSet(config.pki, config.tls, { create }), loadTables(config), dkimKeyProblems(config.outbound.dkim)]);
  // an unusable DKIM key would defer every signed mail: refused here, so a reload keeps the last good config
  if (dkim.length) throw new ConfigError(loaded.file, dkim);
  return { config, pki, tables, policy: buildPolicy(config, tables) ?? authenticatedRelayPolicy };
}

export async function startRelay(file: string, opts: StartOptions = {}): Promise<RunningRelay> {
  let loaded = loadConfig(file, opts.sets);
  const log = opts.logger ?? createLogger(loaded.config.log.level);
  const snapshot = await buildSnapshot(loaded);
  const queue = new QueueStore(loaded.config.queue.dir, loaded.config.queue);
  const recovery = await queue.open();
  log.info({ queue: queue.dir, ...recovery }, 'queue recovered');
  const metrics = new RelayMetrics({
    size: () => queue.size,
    oldestReceivedAt: () => queue.list().reduce<number | undefined>((min, m) => (min === undefined || m.envelope.receivedAt < min ? m.envelope.receivedAt : min), undefined),
  });
  const authLimiter = new AuthLimiter(() => {
    const l = relay.snapshot.config.limits;
    return { perClient: l.authFailures, perUser: l.authFailuresPerUser, windowMs: l.authFailureWindowSeconds * 1000 };
  });
  const rates = new RateLimiter(() => relay.snapshot.config.limits.rates);
  metrics.watchRates(rates);
  const relay: Relay = { snapshot, queue, log, metrics, authLimiter, rates, clients: new Map(), sessions: 0, draining: false };
  const scheduler = new Scheduler(relay, buildAgents(relay), bounceHandlers(relay));
  queue.onCommitted = (mail) => scheduler.enqueue(mail);
  let listeners = opts.drain ? [] : await startListeners(relay);
  const control: NetServer = await startControl(queue, { flush: (id) => scheduler.flush(id) });
  const queueHealth = new QueueHealthCheck(queue.dir, () => queue.minFreeBytes);
  const httpCfg = loaded.config.http;
  const http = httpCfg.enabled
    ? await startHttp(httpCfg.address, httpCfg.port, {
        registry: metrics.registry,
        ready: async () => (relay.draining || opts.drain ? { ok: false, reason: opts.drain ? 'drain mode: not serving SMTP' : 'shutting down' } : queueHealth.check()),
        configHash: () => relay.snapshot.config.configHash,
        tablesHash: () => relay.snapshot.tables.digest,
      })
    : undefined;
  // a drain tries every mail at once, whatever backoff its last attempts set (they ran on another pod)
  if (opts.drain) await runAdmin(queue, { op: 'flush' });
  scheduler.start();
  const stopMemoryReturn = returnMemoryAfterBursts(() => relay.sessions, {
    onCollect: (before, after) => log.info({ heapMb: Math.round(before / 1048576), afterMb: Math.round(after / 1048576), sessions: relay.sessions }, 'heap collected after a burst of sessions'),
  });

  let reloading: Promise<boolean> | undefined;
  const doReload = async (changed?: string[]): Promise<boolean> => {
    try {
      const next = loadConfig(file, opts.sets);
      const snap = await buildSnapshot(next);
      if (next.config.queue.dir !== relay.snapshot.config.queue.dir) {
        throw new Error('queue.dir cannot change on reload; restart the relay to move the queue');
      }
      const previous = relay.snapshot;
      relay.snapshot = snap;
      try {
        listeners = await reconcileListeners(relay, listeners);
      } catch (err) {
        relay.snapshot = previous;
        listeners = await reconcileListeners(relay, listeners);
        throw err;
      }
      loaded = next;
      result.listeners = listeners;
      result.ports = portsOf(listeners);
      await watcher.watch([next.file, ...next.watched]);
      metrics.reloads.inc({ result: 'ok' });
      log.info({ changed: changed ?? 'SIGHUP', listeners: listeners.length, pki: [...snap.pki.entries.keys()] }, 'config reloaded');
      return true;
    } catch (err) {
      metrics.reloads.inc({ result: 'refused' });
      log.error({ changed: changed ?? 'SIGHUP', err: (err as Error).message }, 'new config refused; the previous one keeps serving');
      return false;
    }
  };
  const reload = (changed?: string[]): Promise<boolean> => {
    const run = () => doReload(changed);
    reloading = (reloading ?? Promise.resolve(true)).then(run, run);
    return reloading;
  };
  const watcher = new FileWatcher((changed) => void reload(changed));
  if (!opts.drain) await watcher.watch([loaded.file, ...loaded.watched]);

  const portsOf = (ls: RunningListener[]) => Object.fromEntries(ls.map((l) => [l.runtime.name, l.port]));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      relay.draining = true;
      log.info({ graceSeconds: relay.snapshot.config.limits.shutdownGraceSeconds }, 'shutting down: no new sessions, finishing open ones');
      watcher.close();
      stopMemoryReturn();
      await Promise.all(listeners.map(closeListener));
      await scheduler.stop();
      control.close();
      http?.close();
      log.info('stopped');
      log.flush?.();
    })();
    return stopping;
  };
  const result: RunningRelay = {
    relay,
    listeners,
    http,
    ports: portsOf(listeners),
    httpPort: http ? (http.address() as { port: number }).port : undefined,
    reload,
    stop,
  };
  if (opts.drain) {
    const drain = watchDrain(queue, log);
    result.drained = drain.drained.then(stop);
    const previousStop = result.stop;
    result.stop = () => {
      drain.stop();
      return previousStop();
    };
  }
  if (opts.signals) {
    if (!opts.drain) process.on('SIGHUP', () => void reload());
    // a drain stopped before the queue is empty must not look like one that finished (its Job would succeed)
    const onTerm = () => void stop().then(() => process.exit(opts.drain && queue.size > 0 ? 143 : 0));
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onTerm);
  }
  // after the signal handlers: whoever waits for this line may stop the relay at once
  log.info({ ports: result.ports, http: result.httpPort }, 'relay ready');
  return result;
}
