// Structured logs: pino, one JSON event per line. Every line about a mail carries its queue id (`qid`);
// passwords and AUTH data are never passed to the logger, and the redact list is a second fence.
import { pino, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { svc: 'kubemta' },
      redact: { paths: ['password', '*.password', 'auth.credentials', 'hash', '*.hash'], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}
