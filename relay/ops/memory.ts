// Gives memory back after a burst of sessions. V8 runs a major GC only when the program allocates towards
// its heap limit; a relay that held 10,000 sessions and then goes quiet allocates almost nothing, so the
// old generation stays at its peak with the sessions' garbage in it (measured: ~90 MB of a 110 MB heap was
// garbage, kept for good; bench/RESULTS.md). Node gives V8 no idle time to collect on its own, so this
// watches the session count and the heap and asks for one major GC when most of a burst has gone.
import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemoryReturnOptions {
  /** How often to look (ms). */
  intervalMs?: number;
  /** Collect only when the heap's committed size grew at least this much since the last collection (bytes). */
  minGrowthBytes?: number;
  /** Told the heap's committed bytes before and after each collection this asked for. */
  onCollect?: (before: number, after: number) => void;
}

type Gc = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let cachedGc: Gc | undefined;
/** V8's gc(): global with --expose-gc, otherwise exposed for a fresh context (the flag is read at context creation). */
function gcFunction(): Gc {
  if (cachedGc) return cachedGc;
  const global = (globalThis as { gc?: Gc }).gc;
  if (global) return (cachedGc = global);
  setFlagsFromString('--expose-gc');
  return (cachedGc = runInNewContext('gc') as Gc);
}

/**
 * Every intervalMs (5 s): when the open sessions are down to a quarter or less of the most seen since the
 * last look (or to none), and the heap's committed size grew by minGrowthBytes since the last collection,
 * one major GC (it compacts, and gives the emptied pages back).
 * Returns a stop function; the timer never keeps the process alive.
 */
export function returnMemoryAfterBursts(sessions: () => number, opts: MemoryReturnOptions = {}): () => void {
  const minGrowth = opts.minGrowthBytes ?? 16 * 1024 * 1024;
  // committed, not used: V8's own collections may have emptied the heap without giving its pages back
  const committed = () => getHeapStatistics().total_heap_size;
  let baseline = committed();
  let peak = sessions();
  const peakWatch = setInterval(() => (peak = Math.max(peak, sessions())), 500);
  peakWatch.unref();
  const timer = setInterval(() => {
    const open = sessions();
    const quieter = open === 0 || open * 4 <= peak;
    peak = open;
    const before = committed();
    if (!quieter || before - baseline < minGrowth) return;
    gcFunction()({ type: 'major', execution: 'sync' });
    baseline = committed();
    opts.onCollect?.(before, baseline);
  }, opts.intervalMs ?? 5_000);
  timer.unref();
  return () => {
    clearInterval(timer);
    clearInterval(peakWatch);
  };
}
