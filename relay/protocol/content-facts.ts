// What a message holds that not every next hop accepts: 8-bit bytes (in the header section, in the body) and
// lines longer than SMTP allows. Found once, without parsing MIME, as the content is written to the queue
// (queue/fs.ts), so onward delivery knows per hop whether the mail may go as it is; a mail recovered after
// a restart is scanned again when it is first delivered (scanContent). Most mail has none of these, and
// then nothing parses the message.
import { isAscii } from 'node:buffer';
import { LF } from './lines.ts';

/** RFC 5321 4.5.3.1.6: 1000 octets with the CRLF; Postfix's smtp_line_length_limit (998). */
export const MAX_LINE = 998;

/** Bytes a line may have before its LF: MAX_LINE and the CR. */
const MAX_BEFORE_LF = MAX_LINE + 1;

export interface ContentFacts {
  /** 8-bit bytes in the top-level header section (needs SMTPUTF8 when declared so; never re-encoded). */
  eightBitHeader: boolean;
  /** 8-bit bytes after the header section (needs 8BITMIME, or conversion). */
  eightBitBody: boolean;
  /** A line of more than MAX_LINE octets anywhere. */
  longLines: boolean;
}

/**
 * Fed the content chunk by chunk, in any chunking (CRLF lines: intake refuses bare CR and LF). The header
 * section is walked line by line to find its end; the body is only checked for 8-bit bytes (one SIMD
 * pass) and for a line over the limit, by asking for each stretch of MAX_BEFORE_LF + 1 bytes where its
 * last LF is: a hundred lookups for 100 KB of 80-octet lines instead of a thousand.
 */
export class ContentScanner {
  readonly facts: ContentFacts = { eightBitHeader: false, eightBitBody: false, longLines: false };
  private inHeader = true;
  /** Bytes of the current line seen in earlier chunks. */
  private carry = 0;

  /** Nothing more to find. */
  get settled(): boolean {
    return !this.inHeader && this.facts.eightBitBody && this.facts.longLines;
  }

  feed(chunk: Buffer): void {
    if (this.settled) return;
    let bodyFrom = 0;
    if (this.inHeader) {
      bodyFrom = this.headerEnd(chunk);
      if (!this.facts.eightBitHeader && !isAscii(chunk.subarray(0, bodyFrom))) this.facts.eightBitHeader = true;
      if (this.inHeader) return;
    }
    if (!this.facts.eightBitBody && !isAscii(chunk.subarray(bodyFrom))) this.facts.eightBitBody = true;
    if (!this.facts.longLines) this.bodyLines(chunk, bodyFrom);
  }

  /** Walks header lines; returns where the body starts in chunk (chunk.length while still in the header). */
  private headerEnd(chunk: Buffer): number {
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      const len = this.carry + (lf < 0 ? chunk.length : lf) - start;
      if (len > MAX_BEFORE_LF) this.facts.longLines = true;
      if (lf < 0) {
        this.carry = len;
        return chunk.length;
      }
      this.carry = 0;
      start = lf + 1;
      // the empty line (just its CR) ends the header section
      if (len <= 1) {
        this.inHeader = false;
        return start;
      }
    }
  }

  /** Looks for a line over the limit from `from` on; the current line began `carry` bytes before it. */
  private bodyLines(chunk: Buffer, from: number): void {
    // start of the current line, before the chunk when it began in an earlier one
    let line = from - this.carry;
    for (;;) {
      const limit = line + MAX_BEFORE_LF;
      if (limit >= chunk.length) {
        // the rest of the chunk is shorter than a line may be: only its last LF matters
        const lf = chunk.lastIndexOf(LF);
        if (lf >= from && lf >= line) line = lf + 1;
        this.carry = chunk.length - line;
        return;
      }
      // limit >= 0, as carry never exceeds MAX_BEFORE_LF here
      const lf = chunk.lastIndexOf(LF, limit);
      if (lf < Math.max(line, from)) {
        this.facts.longLines = true;
        return;
      }
      line = lf + 1;
    }
  }
}

/** Scans a whole content stream (a mail the queue has no facts for: recovered after a restart). */
export async function scanContent(content: AsyncIterable<Buffer>): Promise<ContentFacts> {
  const scanner = new ContentScanner();
  for await (const chunk of content) scanner.feed(chunk);
  return scanner.facts;
}
