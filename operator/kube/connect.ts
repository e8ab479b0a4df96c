// The first contact with the API server. An operator that cannot reach it (wrong Service routing, a
// NetworkPolicy, an API server still starting) must say so in its log, not sit silent: every failed
// attempt is a warning with the error and when it tries again, and the first success is one info line.
import type { Logger } from 'pino';
import type { KubeClient } from './client.ts';
import { backoffDelay, pause } from './backoff.ts';

export interface ConnectOptions {
  initialDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
}

/** Resolves once `/version` answers; retries with exponential backoff (1 s doubling to 30 s) meanwhile. */
export async function connectToApiServer(client: KubeClient, log: Logger, opts: ConnectOptions = {}): Promise<void> {
  const backoff = { first: opts.initialDelayMs ?? 1000, max: opts.maxDelayMs ?? 30_000 };
  for (let attempt = 1; ; attempt++) {
    try {
      const v = await client.version();
      log.info({ server: v.server, version: v.gitVersion, attempts: attempt }, 'connected to the API server');
      return;
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const e = err as NodeJS.ErrnoException;
      const delay = backoffDelay(attempt - 1, backoff);
      log.warn({ err: e.message, code: e.code, attempt, retryInMs: delay }, 'API server unreachable; retrying with backoff');
      await pause(delay, opts.signal);
      if (opts.signal?.aborted) throw err;
    }
  }
}
