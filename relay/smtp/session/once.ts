// Adapter between async hooks and smtp-server's callbacks: the callback runs exactly once, a thrown
// SmtpReply-style error keeps its code, any other exception becomes 451 4.3.0 (never a silent accept).
import type { Logger } from '../../ops/log.ts';
import { Replies, toError, type SmtpReply } from '../../protocol/replies.ts';

export class Refusal extends Error {
  readonly reply: SmtpReply;
  readonly reason: string;
  constructor(reply: SmtpReply, reason: string) {
    super(reply.text);
    this.reply = reply;
    this.reason = reason;
  }
}

export function hook<A extends unknown[], R>(
  log: Logger,
  name: string,
  fn: (...args: A) => Promise<R>,
): (...args: [...A, (err?: Error | null, result?: R) => void]) => void {
  return (...args) => {
    const callback = args.pop() as (err?: Error | null, result?: R) => void;
    let called = false;
    const once = (err?: Error | null, result?: R) => {
      if (called) return;
      called = true;
      callback(err, result);
    };
    fn(...(args as unknown as A)).then(
      (result) => once(null, result),
      (err: unknown) => {
        if (err instanceof Refusal) return once(toError(err.reply));
        log.error({ hook: name, err }, 'hook failed; answering 451');
        once(toError(Replies.localError));
      },
    );
  };
}
