// Deferrals that wait longer than the retry backoff, and say why (`kubemta queue` shows it): recipients
// of a paused destination wait for the pause to end, and a recipient answered 450 or 451 (the replies
// greylisting gives; Postfix's postscreen and postgrey use 450, rspamd and milter-greylist 451) waits at
// least outbound.retry.greylistSeconds, so the first retry comes after the greylisting delay instead of
// being refused once more.
import type { DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { parseDiagnostic } from '../diagnostic.ts';
import type { Destination } from './destination.ts';
import type { Pause } from './feedback.ts';
import type { RcptIndex } from './outcome.ts';

/** How a destination is named to an operator: the recipient domain, or the smarthost's host:port. */
export function destinationName(dest: Destination): string {
  return dest.kind === 'mx' ? dest.domain : `${dest.host}:${dest.port}`;
}

/** The pool's refusal while a destination is paused. */
export class Paused extends Error {
  readonly pause: Pause;
  constructor(dest: string, pause: Pause) {
    super(`${dest} is paused until ${new Date(pause.until).toISOString()} after ${pause.after}`);
    this.pause = pause;
  }
}

/** Deferred outcomes of `outcomes` wait for the destination's pause to end. */
export function throttled(outcomes: DeliveryOutcome[], dest: Destination, pause: Pause): DeliveryOutcome[] {
  const waiting = { kind: 'throttled' as const, destination: destinationName(dest), after: pause.after };
  return outcomes.map((o) => (o.result === 'deferred' ? { ...o, notBefore: pause.until, waiting } : o));
}

/** Recipients not tried because their destination is paused: the cause of the pause is their last error. */
export function postponed(rcpts: RcptIndex, dest: Destination, pause: Pause): DeliveryOutcome[] {
  return throttled(
    [...rcpts.values()].flat().map((index) => ({ index, result: 'deferred' as const, detail: pause.detail, attempted: false })),
    dest,
    pause,
  );
}

/** Deferred outcomes whose reply is 450 or 451 wait until at least `notBefore`. */
export function greylisted(outcomes: DeliveryOutcome[], notBefore: number): DeliveryOutcome[] {
  return outcomes.map((o) => {
    if (o.result !== 'deferred') return o;
    const reply = parseDiagnostic(o.detail).reply;
    return reply && /^45[01]\b/.test(reply) ? { ...o, notBefore, waiting: { kind: 'greylisted' as const, after: reply } } : o;
  });
}
