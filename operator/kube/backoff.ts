// The pause between attempts when the API server fails: doubling from `first` up to `max`, and a sleep
// that ends at once when the caller stops. Shared by the first contact (connect.ts) and the informers.

export interface Backoff {
  first: number;
  max: number;
}

/** The pause before the attempt after `failures` failures in a row (0: the first retry). */
export function backoffDelay(failures: number, b: Backoff): number {
  return Math.min(b.first * 2 ** failures, b.max);
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });
}
