// The bytes of one delivered copy, as a local MTA writes them: the trace fields of the final delivery
// first (`Return-Path`, `X-Original-To`, `Delivered-To`, in Postfix's order and spelling), then the
// message as queued (its `Received:` from intake on top), with Unix line ends. For mbox, every line that
// matches `>*From ` gets one more `>` (mboxrd: reversible, unlike mboxo's quoting of `From ` alone).
// Queued content is CRLF-clean (intake refuses bare CR/LF), so CRLF → LF is the whole conversion.

export interface TraceFields {
  /** Envelope sender; '' is the null sender. */
  from: string;
  /** The address as given in RCPT TO. */
  rcpt: string;
  /** The final address resolution reached. */
  address: string;
}

/** A header field value from an envelope address: never a line break (intake allows none; a second fence). */
function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

export function traceFields(t: TraceFields): string {
  return `Return-Path: <${oneLine(t.from)}>\nX-Original-To: ${oneLine(t.rcpt)}\nDelivered-To: ${oneLine(t.address)}\n`;
}

const ASCTIME_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const ASCTIME_MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C's asctime() in UTC, `Thu Nov  5 09:03:07 2026` (as Python's mailbox writes it; pods run in UTC). */
export function asctime(d: Date): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const day = String(d.getUTCDate()).padStart(2, ' ');
  const time = `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`;
  return `${ASCTIME_DAYS[d.getUTCDay()]} ${ASCTIME_MONTHS[d.getUTCMonth()]} ${day} ${time} ${d.getUTCFullYear()}`;
}

/**
 * The mbox separator line: `From <sender> <asctime>`, MAILER-DAEMON for the null sender. Whitespace in
 * the sender (a quoted local part) would end the field early for every reader, so it becomes `_` here;
 * Return-Path keeps the exact address.
 */
export function fromLine(sender: string, at: Date): string {
  const who = sender === '' ? 'MAILER-DAEMON' : sender.replace(/\s/g, '_');
  return `From ${who} ${asctime(at)}\n`;
}

function convert(lines: string, mboxrd: boolean): string {
  const lf = lines.replace(/\r\n/g, '\n');
  return mboxrd ? lf.replace(/^(>*From )/gm, '>$1') : lf;
}

/**
 * The queued content with Unix line ends (and mboxrd quoting), ending in a line end. Bytes other than
 * line ends pass unchanged (latin1 maps every byte to one code unit and back), so 8-bit mail is safe.
 */
export async function* localLines(content: AsyncIterable<Buffer>, mboxrd: boolean): AsyncGenerator<Buffer> {
  let carry = '';
  for await (const chunk of content) {
    const text = carry + chunk.toString('latin1');
    const end = text.lastIndexOf('\n') + 1;
    carry = text.slice(end);
    if (end > 0) yield Buffer.from(convert(text.slice(0, end), mboxrd), 'latin1');
  }
  if (carry) yield Buffer.from(convert(carry.replace(/\r$/, '') + '\n', mboxrd), 'latin1');
}
