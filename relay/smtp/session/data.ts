// onData: stream the message into the queue and answer 250 only once it is durable. While streaming, the
// content is checked for bare CR/LF (refused: SMTP smuggling) and for size (refused with 552; the rest is
// read and dropped, never written). Nothing is half-queued: any failure removes what was written.
import { Transform, type TransformCallback } from 'node:stream';
import type { SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { newQueueId, type Envelope } from '../../queue/envelope.ts';
import { Replies } from '../../protocol/replies.ts';
import { connectionOf } from '../connection.ts';
import { findBareLineEnd } from '../../protocol/lines.ts';
import { Refusal } from './once.ts';
import { receivedHeader } from './received.ts';
import { transaction } from './transaction.ts';
import { spool, TransferCut } from './spool.ts';
import { dataDeadline, type DataExpiry } from './data-deadline.ts';
import { intakeSettings } from '../../intake/intake.ts';
import { runChecks } from './checks.ts';

// How much of the message start is read for Received: fields; a header section longer than this is
// counted up to here (a loop's header grows by one short field per hop, far below it).
const HEADER_SCAN_BYTES = 256 * 1024;

/**
 * Passes content through while watching it: bare line ends, size (after maxBytes it stops passing and
 * stops filling the disk), and the Received: fields of the header section (hops, RFC 5321 6.3).
 */
class ContentGuard extends Transform {
  bare = false;
  bytes = 0;
  hops = 0;
  /** The header section read so far; undefined once counted. */
  private header: string | undefined = '';
  private last = 10;
  private readonly maxBytes: number;
  constructor(maxBytes: number) {
    super();
    this.maxBytes = maxBytes;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (!this.bare && findBareLineEnd(chunk, this.last) !== -1) this.bare = true;
    this.last = chunk[chunk.length - 1];
    this.bytes += chunk.length;
    if (this.header !== undefined) this.scanHeader(chunk);
    if (this.bare || this.bytes > this.maxBytes) return cb();
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    // a CR as the very last byte has no LF after it
    if (this.last === 13) this.bare = true;
    if (this.header !== undefined) this.countHops(this.header);
    cb();
  }
  private scanHeader(chunk: Buffer): void {
    const header = this.header + chunk.toString('latin1');
    this.header = header;
    // the blank line that ends the header section (also right at the start: no header at all)
    const end = ('\r\n' + header).indexOf('\r\n\r\n');
    if (end >= 0) this.countHops(header.slice(0, end));
    else if (header.length >= HEADER_SCAN_BYTES) this.countHops(header);
  }
  private countHops(header: string): void {
    this.hops = ('\r\n' + header).match(/\r\nReceived[ \t]*:/gi)?.length ?? 0;
    this.header = undefined;
  }
}

function isDiskFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG';
}

export function onData(relay: Relay, lr: ListenerRuntime) {
  return async (stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> => {
    const { config } = relay.snapshot;
    const listener = lr.name;
    const tag = lr.cfg.tag;
    const maxBytes = lr.cfg.maxMessageBytes ?? config.limits.maxMessageBytes;
    const t = transaction(session);
    const mailFrom = session.envelope.mailFrom;
    const params = ((mailFrom && mailFrom.args) || {}) as Record<string, unknown>;
    const envelope: Envelope = {
      version: 1,
      id: newQueueId(),
      from: mailFrom ? mailFrom.address : '',
      recipients: t.recipients,
      tag,
      user: typeof session.user === 'string' ? session.user : undefined,
      listener,
      client: {
        address: session.remoteAddress,
        port: session.remotePort,
        helo: session.hostNameAppearsAs || '',
        tls: session.tlsOptions ? `${session.tlsOptions.version} ${session.tlsOptions.name}` : undefined,
      },
      receivedAt: Date.now(),
      smtputf8: !!params.SMTPUTF8,
      body: params.BODY === '8BITMIME' ? '8bitmime' : '7bit',
    };
    const log = relay.log.child({ qid: envelope.id, listener });
    const guard = new ContentGuard(maxBytes);
    const limits = config.limits;
    let expired: DataExpiry | undefined;
    const stopClock = dataDeadline(
      { hardMs: limits.dataTimeoutSeconds * 1000, graceMs: limits.commandTimeoutSeconds * 1000, minBytesPerSecond: limits.dataMinBytesPerSecond },
      () => stream.byteLength ?? guard.bytes,
      (why) => {
        expired = why;
        const r = why === 'timeout' ? Replies.dataTimeout : Replies.dataTooSlow;
        log.warn({ client: session.remoteAddress, bytes: stream.byteLength ?? guard.bytes }, why === 'timeout' ? 'DATA timeout; closing session' : 'DATA below the minimum rate; closing session');
        const conn = connectionOf(session);
        conn?.send(r.code, `${r.status} ${r.text}`);
        conn?.close();
        // ends the copy: spool() turns the cut into an error, and the partial file is removed
        stream.destroy();
      },
    );
    const incoming = relay.queue.create(envelope);
    // checks on: DATA goes to a scratch file first, and into the queue file once the checks have read it
    const checks = intakeSettings(config, lr.cfg);
    const scratch = checks ? relay.queue.scratch(envelope.id) : undefined;
    try {
      const received = receivedHeader(envelope, session, lr.cfg.hostname ?? config.hostname ?? 'localhost');
      if (!scratch) incoming.stream.write(received);
      await spool(stream, guard, scratch?.stream ?? incoming.stream);
      if (guard.bare) throw new Refusal(Replies.bareLineEndInData, 'bare-line-end');
      if (stream.sizeExceeded || guard.bytes > maxBytes) throw new Refusal(Replies.messageTooBig, 'size');
      // our own Received: field is the next hop
      if (guard.hops + 1 > config.limits.maxHops) throw new Refusal(Replies.tooManyHopsInData, 'hops');
      if (checks && scratch) {
        // the client has sent everything: the DATA deadline measures it, not the time the checks take
        stopClock();
        await runChecks(relay, lr, checks, { envelope, scratch, size: guard.bytes, received }, incoming.stream, log);
      }
      const started = process.hrtime.bigint();
      const mail = await incoming.commit();
      relay.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      relay.metrics.accepted.inc({ listener });
      log.info(
        { from: envelope.from, rcpts: envelope.recipients.length, size: mail.size, client: session.remoteAddress, user: envelope.user, tag },
        'queued',
      );
      return `2.0.0 Ok: queued as ${envelope.id}`;
    } catch (err) {
      await incoming.abort();
      // whatever is left of the DATA stream must still be read, or the session stalls
      stream.resume();
      if (err instanceof TransferCut) {
        // nobody is left to read a reply; counted, and logged without the noise of a failed hook
        const reason = expired ? `data-${expired}` : 'data-cut';
        relay.metrics.refused.inc({ listener, reason });
        if (!expired) log.info({ client: session.remoteAddress, bytes: guard.bytes }, 'DATA cut short; nothing queued');
        throw new Refusal(Replies.localError, reason);
      }
      if (err instanceof Refusal) {
        relay.metrics.refused.inc({ listener, reason: err.reason });
        log.info({ client: session.remoteAddress, reply: `${err.reply.code} ${err.reply.status}` }, 'message refused');
        throw err;
      }
      if (isDiskFull(err)) {
        relay.metrics.refused.inc({ listener, reason: 'queue-full' });
        log.error({ err: (err as Error).message }, 'queue filesystem full; message refused, nothing queued');
        throw new Refusal(Replies.queueFull, 'queue-full');
      }
      throw err;
    } finally {
      stopClock();
      await scratch?.remove();
    }
  };
}
