// Dot-stuffing (RFC 5321 4.5.2) with native searches instead of nodemailer's byte-by-byte loop, which
// was the largest single cost of delivering 100 KB messages. Queued content is CRLF-clean (intake
// refuses bare CR/LF; DSNs and DKIM headers are built with CRLF), so only dots at line starts change;
// a chunk that is not clean is left to nodemailer's own transform, which also repairs line ends.
import { findBareLineEnd } from '../../protocol/lines.ts';

const LF = 10;
const DOT = 46;
const DOT_BUF = Buffer.from('.');

/**
 * The chunk with a dot added before every dot that starts a line; `lastByte` is the byte before the
 * chunk (false at the start of the message). Undefined when the chunk has a bare CR or LF.
 */
export function stuffDots(chunk: Buffer, lastByte: number | false): Buffer | undefined {
  if (findBareLineEnd(chunk, lastByte === false ? LF : lastByte) !== -1) return undefined;
  const parts: Buffer[] = [];
  let from = 0;
  if (chunk[0] === DOT && (lastByte === LF || lastByte === false)) {
    parts.push(DOT_BUF);
  }
  for (let i = chunk.indexOf('\n.'); i !== -1; i = chunk.indexOf('\n.', i + 2)) {
    parts.push(chunk.subarray(from, i + 1), DOT_BUF);
    from = i + 1;
  }
  if (!parts.length) return chunk;
  parts.push(chunk.subarray(from));
  return Buffer.concat(parts);
}

interface DataStreamState {
  lastByte: number | false;
  inByteCount: number;
  outByteCount: number;
  push(chunk: Buffer): boolean;
}

type TransformFn = (chunk: Buffer | string, encoding: BufferEncoding, done: (err?: Error | null) => void) => void;

/** Wraps nodemailer's DataStream._transform: the fast path for clean chunks, the original otherwise. */
export function fastTransform(original: TransformFn): TransformFn {
  return function (this: DataStreamState, chunk, encoding, done) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (!buf.length) return done();
    const out = stuffDots(buf, this.lastByte);
    if (!out) return original.call(this, buf, encoding, done);
    this.inByteCount += buf.length;
    this.outByteCount += out.length;
    this.lastByte = buf[buf.length - 1];
    this.push(out);
    done();
  };
}
