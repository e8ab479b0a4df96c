// DATA transparency (RFC 5321 4.5.2): a line that starts with a dot loses that dot, so `.bar` arrives as
// `bar`. smtp-server only undoes the stuffing of `..`; a single leading dot before anything else stays.
// This sits in front of the library's DATA parser and drops the dot of a line-start `.X` (X neither `.`,
// which the library unstuffs, nor the CR of the `.<CRLF>` terminator). Bytes
// after the terminator (pipelined commands) pass untouched. A dot (or `.<CR>`) at the end of a chunk is
// held back until the next chunk says what it is.
import { CR, LF } from '../protocol/lines.ts';

const DOT = 0x2e;

export class LeadingDots {
  private carry: Buffer = Buffer.alloc(0);
  private atLineStart = true;
  private done = false;

  /** A new DATA phase starts at a line start. */
  reset(): void {
    this.carry = Buffer.alloc(0);
    this.atLineStart = true;
    this.done = false;
  }

  feed(chunk: Buffer): Buffer {
    if (this.done) return chunk;
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    const parts: Buffer[] = [];
    let copied = 0;
    // p: the next line start in buf, -1 when there is none
    let p = this.atLineStart ? 0 : buf.indexOf(LF);
    if (!this.atLineStart && p >= 0) p++;
    this.atLineStart = false;
    while (p >= 0) {
      if (p >= buf.length) {
        this.atLineStart = true;
        break;
      }
      if (buf[p] === DOT) {
        const next = buf[p + 1];
        const incomplete = p + 1 >= buf.length || (next === CR && p + 2 >= buf.length);
        if (incomplete) {
          // hold back ".": or ".\r" until the next byte decides
          this.carry = Buffer.from(buf.subarray(p));
          this.atLineStart = true;
          parts.push(buf.subarray(copied, p));
          return Buffer.concat(parts);
        }
        if (next === CR && buf[p + 2] === LF) {
          // the terminator: the rest is commands
          this.done = true;
          break;
        }
        if (next !== DOT && next !== CR) {
          // drop it; smtp-server would pass it on
          parts.push(buf.subarray(copied, p));
          copied = p + 1;
        }
      }
      const lf = buf.indexOf(LF, p);
      if (lf < 0) break;
      p = lf + 1;
    }
    parts.push(buf.subarray(copied));
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }
}
