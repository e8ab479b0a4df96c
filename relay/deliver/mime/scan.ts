// One cheap pass over a queued message, without parsing MIME: does it carry 8-bit bytes (in the header
// section, in the body) and lines longer than SMTP allows? Most mail has none of these, and then onward
// delivery sends the file as it is; only when one is found does downgrade.ts parse the message.
import { isAscii } from 'node:buffer';
import type { Readable } from 'node:stream';

/** RFC 5321 4.5.3.1.6: 1000 octets with the CRLF; Postfix's smtp_line_length_limit (998). */
export const MAX_LINE = 998;

export interface ContentFacts {
  /** 8-bit bytes in the top-level header section (needs SMTPUTF8 when declared so; never re-encoded). */
  eightBitHeader: boolean;
  /** 8-bit bytes after the header section (needs 8BITMIME, or conversion). */
  eightBitBody: boolean;
  /** A line of more than MAX_LINE octets anywhere. */
  longLines: boolean;
}

/**
 * Scans the content (CRLF lines: intake refuses bare CR and LF). Line lengths are counted with their CR,
 * so a line is too long when more than MAX_LINE + 1 bytes come before its LF.
 */
export async function scanContent(content: Readable | AsyncIterable<Buffer>): Promise<ContentFacts> {
  const facts: ContentFacts = { eightBitHeader: false, eightBitBody: false, longLines: false };
  let inHeader = true;
  let carry = 0;
  for await (const chunk of content as AsyncIterable<Buffer>) {
    let start = 0;
    let bodyFrom = inHeader ? chunk.length : 0;
    for (;;) {
      const lf = chunk.indexOf(10, start);
      const len = carry + (lf < 0 ? chunk.length : lf) - start;
      if (len > MAX_LINE + 1) facts.longLines = true;
      if (lf < 0) {
        carry = len;
        break;
      }
      // the empty line (just its CR) ends the header section
      if (inHeader && len <= 1) {
        inHeader = false;
        bodyFrom = lf + 1;
      }
      carry = 0;
      start = lf + 1;
      // past the header, only the line lengths still need the per-line walk
      if (!inHeader && facts.longLines) break;
    }
    if (bodyFrom > 0 && !facts.eightBitHeader && !isAscii(chunk.subarray(0, bodyFrom))) facts.eightBitHeader = true;
    if (bodyFrom < chunk.length && !facts.eightBitBody && !isAscii(chunk.subarray(bodyFrom))) facts.eightBitBody = true;
  }
  return facts;
}
