// Drain mode (`kubemta relay --drain`): a relay without listeners that delivers what its queue holds and
// ends once the queue is empty. The operator runs it as a Job on the queue claim of a replica that was
// scaled away (operator/controllers/drain.ts), so no mail stays stranded on a claim nobody mounts. It
// keeps the queue's own rules: a mail leaves the queue only when delivered or bounced, a bounce is queued
// (and drained) before its mail goes, so an empty queue means every mail was dealt with.
import type { QueueStore } from './queue/fs.ts';
import type { Logger } from './ops/log.ts';

/** How often the queue's size is looked at (in memory: the index, not the directory). */
const CHECK_MS = 500;
/** How often the remaining count is logged while draining. */
const PROGRESS_MS = 30_000;

/** Resolves once the queue is empty; logs the remaining count now and then. `stop` ends the watch early. */
export function watchDrain(queue: QueueStore, log: Logger): { drained: Promise<void>; stop: () => void } {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const start = { mails: queue.size, at: Date.now() };
  log.info({ mails: start.mails, queue: queue.dir }, 'drain mode: no listeners; delivering the queue, then exiting');
  let lastProgress = Date.now();
  const drained = new Promise<void>((resolve) => {
    const check = () => {
      if (stopped) return;
      if (queue.size === 0) {
        log.info({ mails: start.mails, seconds: Math.round((Date.now() - start.at) / 1000) }, 'queue drained');
        return resolve();
      }
      if (Date.now() - lastProgress >= PROGRESS_MS) {
        lastProgress = Date.now();
        log.info({ remaining: queue.size, of: start.mails }, 'draining');
      }
      timer = setTimeout(check, CHECK_MS);
    };
    check();
  });
  return {
    drained,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
