// The per-command deadline: once the relay has answered, the client has `commandTimeout` to send its
// next complete command line. smtp-server's idle timeout restarts on every byte, so a client trickling
// a byte every few seconds held a session (and its descriptor and per-client slot) for ever; this one
// restarts only when the relay sends a reply, i.e. when a command was completed and answered (Postfix's
// smtpd_per_request_deadline). While the relay itself is busy (a hook running, a TLS handshake, the DATA
// phase, which has its own deadline in session/data-deadline.ts) the client owes nothing and the clock
// starts again. It is attached to each connection from outside (server.ts), so the connection class
// and its command parsing stay as they are.
import type { StrictConnection } from './connection.ts';

export interface CommandDeadline {
  /** Read at each reply, so a reload applies to the next command. 0: no deadline. */
  timeoutMs(): number;
  /** The client missed it: tell it and close (called once). */
  expired(conn: StrictConnection): void;
}

// smtp-server internals read here (covered by relay/smtp/deadline.test.ts)
interface Internals {
  _closing?: boolean;
  _closed?: boolean;
  _upgrading?: boolean;
  _handlerPending?: boolean;
  _dataStream?: unknown;
  _parser?: { _dataMode?: boolean } | false;
  _onClose(): void;
}

export function watchCommandDeadline(conn: StrictConnection, policy: CommandDeadline): void {
  const c = conn as unknown as Internals;
  let timer: NodeJS.Timeout | undefined;
  const gone = () => !!(c._closing || c._closed);
  const busy = () => !!(c._upgrading || c._handlerPending || c._dataStream || (c._parser && c._parser._dataMode));
  const arm = () => {
    clearTimeout(timer);
    const ms = policy.timeoutMs();
    if (ms > 0 && !gone()) {
      timer = setTimeout(() => {
        if (gone()) return;
        if (busy()) return arm();
        policy.expired(conn);
      }, ms);
      timer.unref();
    }
  };
  const send = conn.send.bind(conn);
  conn.send = (code, data, context) => {
    send(code, data, context);
    arm();
  };
  const onClose = c._onClose.bind(conn);
  c._onClose = () => {
    clearTimeout(timer);
    onClose();
  };
}
