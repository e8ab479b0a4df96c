// The DATA phase's deadline: a hard cap (limits.dataTimeoutSeconds) and a floor on the rate. A client
// must deliver its message within `graceMs` plus one second per `minBytesPerSecond` bytes received
// (Postfix: smtpd_timeout + bytes / smtpd_min_data_rate), so a message trickled in a few bytes at a time
// is cut off soon, while a large one on a slow link gets the time its size needs, up to the cap.

export interface DataLimits {
  hardMs: number;
  graceMs: number;
  /** 0: no floor. */
  minBytesPerSecond: number;
}

export type DataExpiry = 'timeout' | 'slow';

/** Calls `expire` once when DATA runs past its deadline; returns the function that stops the clock. */
export function dataDeadline(limits: DataLimits, bytes: () => number, expire: (why: DataExpiry) => void): () => void {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  // 0 switches a limit off (no grace: no floor either, or every DATA would be late at its first byte)
  const hardMs = limits.hardMs > 0 ? limits.hardMs : Infinity;
  const floorOn = limits.minBytesPerSecond > 0 && limits.graceMs > 0;
  const allowed = () => (floorOn ? limits.graceMs + (bytes() * 1000) / limits.minBytesPerSecond : Infinity);
  const wait = (ms: number) => {
    // setTimeout takes an infinite (or over 2^31 ms) delay for 1 ms
    if (Number.isFinite(ms)) timer = setTimeout(check, Math.min(Math.max(1, ms), 2 ** 31 - 1));
  };
  const check = () => {
    const elapsed = Date.now() - start;
    if (elapsed >= hardMs) return expire('timeout');
    const floor = allowed();
    if (elapsed >= floor) return expire('slow');
    // the bytes received by then may extend it again: look once more at the earlier of the two
    wait(Math.min(hardMs, floor) - elapsed);
  };
  wait(Math.min(hardMs, allowed()));
  return () => clearTimeout(timer);
}
