// Making a message fit a next hop, as Postfix's SMTP client does (mime_state downgrade,
// smtp_line_length_limit): for a hop without 8BITMIME, every body part with 8-bit content is re-encoded
// quoted-printable (RFC 6152 §3, RFC 2045 §6.7) and a part merely labelled 8bit/binary is relabelled 7bit;
// a line longer than 998 octets is re-encoded too (quoted-printable, or re-wrapped where the part is
// already base64/quoted-printable), and a header field too long is folded at its whitespace.
// Two streaming passes over the file with mailsplit (a real MIME splitter): analyse() reads each part's
// body once to learn what it holds, convert() rewrites the parts that need it; neither keeps more than a
// chunk and the part headers in memory. Where no encoding may hold the content (RFC 2045 §6.4: no
// encoding for message/* and multipart/*; RFC 2046: the preamble and epilogue are not content) the
// message cannot go to this hop: analyse() says why, and the caller bounces with 5.6.3.
import { TextDecoder } from 'node:util';
import { isAscii } from 'node:buffer';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Splitter, type MimeNode, type SplitterChunk } from '@zone-eu/mailsplit';
import libqp from 'libqp';
import { MAX_LINE } from '../../protocol/content-facts.ts';

export interface HopCapabilities {
  /** The hop announced 8BITMIME (RFC 6152). */
  eightBitMime: boolean;
}

interface PartFacts {
  eightBit: boolean;
  /** A body line over MAX_LINE. */
  long: boolean;
  /** A header line over MAX_LINE. */
  headerLong: boolean;
  /** The body is valid UTF-8 (names the charset of a non-MIME message that gains MIME headers). */
  utf8: boolean;
}

/** One small number per part (a message may have very many): the PartFacts as bits. */
const EIGHT_BIT = 1;
const LONG = 2;
const HEADER_LONG = 4;
const NOT_UTF8 = 8;
const pack = (f: PartFacts) => (f.eightBit ? EIGHT_BIT : 0) | (f.long ? LONG : 0) | (f.headerLong ? HEADER_LONG : 0) | (f.utf8 ? 0 : NOT_UTF8);
const unpack = (n: number): PartFacts => ({ eightBit: !!(n & EIGHT_BIT), long: !!(n & LONG), headerLong: !!(n & HEADER_LONG), utf8: !(n & NOT_UTF8) });

export type Analysis = { kind: 'convert'; parts: number[] } | { kind: 'impossible'; reason: string };

/** What happens to one leaf part's body. */
type BodyAction = 'keep' | 'qp' | 'rewrap-qp' | 'rewrap-base64' | 'break';

const SPLITTER = { ignoreEmbedded: true };
const CRLF_SP = Buffer.from('\r\n ');

function transferEncoding(node: MimeNode): string {
  return node.encoding || '7bit';
}

/** message/global* may be encoded (RFC 6532 §3.5); every other message/* may not (RFC 2045 §6.4). */
function encodable(node: MimeNode): boolean {
  const type = node.contentType || 'text/plain';
  return !type.startsWith('message/') || type.startsWith('message/global');
}

function partName(node: MimeNode, index: number): string {
  return `part ${index + 1} (${node.contentType || 'text/plain'}, ${transferEncoding(node)})`;
}

/** Measures line lengths across chunks (CRLF lines, the CR counted). */
class LineMeter {
  private carry = 0;
  long = false;
  feed(buf: Buffer): void {
    let start = 0;
    for (;;) {
      const lf = buf.indexOf(10, start);
      const len = this.carry + (lf < 0 ? buf.length : lf) - start;
      if (len > MAX_LINE + 1) this.long = true;
      if (lf < 0) {
        this.carry = len;
        return;
      }
      this.carry = 0;
      start = lf + 1;
    }
  }
}

function headerTooLong(node: MimeNode): boolean {
  return node.headers ? node.headers.getList().some((h) => h.line.split('\r\n').some((l) => l.length > MAX_LINE)) : false;
}

/** First pass: what each part holds, and whether this hop can take the message at all. */
export async function analyse(content: Readable, caps: HopCapabilities): Promise<Analysis> {
  const parts: number[] = [];
  let impossible: string | undefined;
  let current: { facts: PartFacts; meter: LineMeter; utf8: TextDecoder } | undefined;
  const close = () => {
    if (!current) return;
    current.facts.long = current.meter.long;
    try {
      current.utf8.decode();
    } catch {
      current.facts.utf8 = false;
    }
    parts.push(pack(current.facts));
    current = undefined;
  };
  const splitter = new Splitter(SPLITTER);
  // a read error is the relay's trouble (the caller defers); only what the splitter refuses is the message's
  let readError: Error | undefined;
  content.once('error', (err) => (readError = err));
  const reading = pipeline(content, splitter).catch(() => {});
  try {
    for await (const obj of splitter as AsyncIterable<SplitterChunk>) inspect(obj);
  } catch (err) {
    if (!readError) impossible ??= `the message cannot be parsed as MIME (${(err as Error).message})`;
  }
  await reading;
  if (readError) throw readError;
  close();
  return impossible ? { kind: 'impossible', reason: impossible } : { kind: 'convert', parts };

  function inspect(obj: SplitterChunk): void {
    if (obj.type === 'node') {
      close();
      const node = obj as MimeNode;
      const facts: PartFacts = { eightBit: false, long: false, headerLong: headerTooLong(node), utf8: true };
      current = { facts, meter: new LineMeter(), utf8: new TextDecoder('utf-8', { fatal: true }) };
      return;
    }
    const chunk = obj.value;
    if (obj.type === 'body' && current) {
      if (!current.facts.eightBit && !isAscii(chunk)) current.facts.eightBit = true;
      // from the first 8-bit chunk on, every chunk: a character may span chunks
      if (current.facts.eightBit && current.facts.utf8) {
        try {
          current.utf8.decode(chunk, { stream: true });
        } catch {
          current.facts.utf8 = false;
        }
      }
      current.meter.feed(chunk);
      if (!caps.eightBitMime && current.facts.eightBit && !encodable(obj.node)) {
        impossible ??= `${partName(obj.node, parts.length)} has 8-bit content, and RFC 2045 allows no encoding that would make it 7-bit`;
      }
    } else if (obj.type === 'data' && !caps.eightBitMime && !isAscii(chunk)) {
      // boundaries, preamble, epilogue: text outside any part, which no Content-Transfer-Encoding covers
      impossible ??= 'the multipart structure has 8-bit bytes outside its parts (preamble or epilogue), which no encoding can cover';
    }
  }
}

function bodyAction(node: MimeNode, facts: PartFacts, caps: HopCapabilities): BodyAction {
  const needs7bit = !caps.eightBitMime && facts.eightBit;
  if (!needs7bit && !facts.long) return 'keep';
  if (!encodable(node)) return 'break';
  const cte = transferEncoding(node);
  if (cte === 'base64') return 'rewrap-base64';
  if (cte === 'quoted-printable') return 'rewrap-qp';
  if (cte === '7bit' || cte === '8bit' || cte === 'binary') return 'qp';
  return 'break';
}

/**
 * Folds each header line over MAX_LINE at its last whitespace within the limit (lossless: unfolding
 * restores it); a line without whitespace gets CRLF SP inserted, as Postfix's smtp_line_length_limit does.
 */
export function foldLine(line: string, fieldStart = true): string {
  const out: string[] = [];
  let rest = line;
  // never right after the field name: a line of just `Name:` gains nothing
  let from = fieldStart ? line.indexOf(':') + 2 : 1;
  while (rest.length > MAX_LINE) {
    const ws = Math.max(rest.lastIndexOf(' ', MAX_LINE), rest.lastIndexOf('\t', MAX_LINE));
    if (ws >= from && rest.slice(0, ws).trim()) {
      out.push(rest.slice(0, ws));
      rest = rest.slice(ws);
    } else {
      out.push(rest.slice(0, MAX_LINE));
      rest = ' ' + rest.slice(MAX_LINE);
    }
    from = 1;
  }
  out.push(rest);
  return out.join('\r\n');
}

function foldHeaders(node: MimeNode): void {
  const headers = node.headers;
  if (!headers) return;
  for (const h of headers.getList()) h.line = h.line.split('\r\n').map((l, i) => foldLine(l, i === 0)).join('\r\n');
  headers.changed = true;
}

/** Sets the part's Content-Transfer-Encoding, and on a non-MIME message the MIME fields it needs. */
function relabel(node: MimeNode, cte: string, facts: PartFacts): void {
  const headers = node.headers;
  if (!headers) return;
  if (node.root && !headers.hasHeader('MIME-Version')) headers.addFormatted('MIME-Version', 'MIME-Version: 1.0', headers.getList().length);
  if (!headers.hasHeader('Content-Type') && facts.eightBit) {
    // the default (text/plain; charset=us-ascii) would misname 8-bit text: RFC 1428's unknown-8bit when it is not UTF-8
    headers.addFormatted('Content-Type', `Content-Type: text/plain; charset=${facts.utf8 ? 'utf-8' : 'unknown-8bit'}`, headers.getList().length);
  }
  headers.remove('Content-Transfer-Encoding');
  headers.addFormatted('Content-Transfer-Encoding', `Content-Transfer-Encoding: ${cte}`, headers.getList().length);
}

/** Re-encodes a body chunk by chunk; each returns what is ready, end() the rest. */
interface BodyCoder {
  write(chunk: Buffer): Buffer[];
  end(): Buffer[];
}

/** Complete lines are encoded as they come; a line is held only up to HOLD bytes, then soft-broken. */
const HOLD = 64 * 1024;

function qpEncoder(): BodyCoder {
  // the start of a line, in the chunks it came in (joined only once there is something to encode)
  let held: Buffer[] = [];
  let heldBytes = 0;
  const encode = (buf: Buffer, soft: boolean) => Buffer.from(libqp.wrap(libqp.encode(buf), 76) + (soft ? '=\r\n' : ''), 'latin1');
  return {
    write(chunk) {
      if (heldBytes + chunk.length <= HOLD && chunk.indexOf(10) < 0) {
        held.push(chunk);
        heldBytes += chunk.length;
        return [];
      }
      const all = held.length ? Buffer.concat([...held, chunk]) : chunk;
      const out: Buffer[] = [];
      let pos = 0;
      let batch = 0; // complete lines from here to pos are encoded together
      for (;;) {
        const lf = all.indexOf(10, pos);
        // the line's bytes before its CR (known before its LF arrives): cut at HOLD from the line start,
        // wherever the reads split the file, so that every pass over the message gives the same bytes
        const contentEnd = lf < 0 ? all.length - (all[all.length - 1] === 13 ? 1 : 0) : lf - 1;
        if (contentEnd - pos >= HOLD) {
          if (batch < pos) out.push(encode(all.subarray(batch, pos), false));
          out.push(encode(all.subarray(pos, pos + HOLD), true));
          pos += HOLD;
          batch = pos;
          continue;
        }
        if (lf < 0) break;
        pos = lf + 1;
      }
      if (batch < pos) out.push(encode(all.subarray(batch, pos), false));
      held = pos < all.length ? [all.subarray(pos)] : [];
      heldBytes = all.length - pos;
      return out;
    },
    end() {
      if (!heldBytes) return [];
      const last = encode(Buffer.concat(held), false);
      held = [];
      heldBytes = 0;
      return [last];
    },
  };
}

/** Re-wraps a base64 body at 76 columns: its line breaks carry nothing, so they are set anew. */
function base64Rewrapper(): BodyCoder {
  let col = 0;
  let endedWithLf = false;
  return {
    write(chunk) {
      if (chunk.length) endedWithLf = chunk[chunk.length - 1] === 10;
      const text = chunk.toString('latin1').replace(/[\r\n]/g, '');
      let out = '';
      for (let i = 0; i < text.length; ) {
        if (col === 76) {
          out += '\r\n';
          col = 0;
        }
        const take = Math.min(76 - col, text.length - i);
        out += text.slice(i, i + take);
        col += take;
        i += take;
      }
      return [Buffer.from(out, 'latin1')];
    },
    end: () => [Buffer.from(endedWithLf && col ? '\r\n' : '', 'latin1')],
  };
}

/**
 * Re-wraps a quoted-printable body with overlong lines without decoding it: a soft break (`=`) at 76
 * columns that never splits an `=XX` escape. 8-bit bytes (invalid there) become `=XX`, which a reader
 * decodes to the same bytes.
 */
function qpRewrapper(escape8bit: boolean): BodyCoder {
  const width = 75; // room for the soft break's `=`
  let col = 0;
  let pending = ''; // an escape cut by a chunk boundary
  const step = (s: string): string => {
    let out = '';
    let i = 0;
    while (i < s.length) {
      const c = s[i];
      if (c === '\r' || c === '\n') {
        // hard line breaks stay
        out += c;
        if (c === '\n') col = 0;
        i++;
        continue;
      }
      let unit = c;
      if (c === '=') {
        if (s.length - i < 3) {
          pending = s.slice(i);
          break;
        }
        unit = s.slice(i, i + 3);
        if (unit === '=\r\n') {
          out += unit;
          col = 0;
          i += 3;
          continue;
        }
      }
      const eightBit = escape8bit && c.charCodeAt(0) > 127;
      const text = eightBit ? '=' + c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0') : unit;
      if (col + text.length > width) {
        out += '=\r\n';
        col = 0;
      }
      out += text;
      col += text.length;
      i += unit.length;
    }
    return out;
  };
  return {
    write(chunk) {
      const s = pending + chunk.toString('latin1');
      pending = '';
      return [Buffer.from(step(s), 'latin1')];
    },
    end() {
      // a cut escape at the very end is passed as it was
      const tail = pending;
      pending = '';
      return [Buffer.from(tail, 'latin1')];
    },
  };
}

/** Postfix's way where re-encoding is not allowed: a line over MAX_LINE is broken with CRLF SP. */
export function lineBreaker(): BodyCoder {
  let col = 0;
  return {
    write(buf) {
      const out: Buffer[] = [];
      let start = 0;
      while (start < buf.length) {
        const lf = buf.indexOf(10, start);
        const end = lf < 0 ? buf.length : lf + 1;
        // the content of the line in this chunk ends before its CR
        let contentEnd = lf < 0 ? buf.length : lf;
        if (contentEnd > start && buf[contentEnd - 1] === 13) contentEnd--;
        let pos = start;
        while (col + (contentEnd - pos) > MAX_LINE) {
          const take = MAX_LINE - col;
          out.push(buf.subarray(pos, pos + take), CRLF_SP);
          pos += take;
          col = 1;
        }
        out.push(buf.subarray(pos, end));
        col = lf < 0 ? col + (end - pos) : 0;
        start = end;
      }
      return out;
    },
    end: () => [],
  };
}

function coderFor(action: BodyAction, caps: HopCapabilities): BodyCoder | undefined {
  if (action === 'qp') return qpEncoder();
  if (action === 'rewrap-base64') return base64Rewrapper();
  if (action === 'rewrap-qp') return qpRewrapper(!caps.eightBitMime);
  if (action === 'break') return lineBreaker();
  return undefined;
}

/** Second pass: the message as this hop may receive it (analysis from analyse() on the same content). */
export function convert(content: Readable, analysis: Extract<Analysis, { kind: 'convert' }>, caps: HopCapabilities): Readable {
  async function* run(): AsyncGenerator<Buffer> {
    const splitter = new Splitter(SPLITTER);
    const reading = pipeline(content, splitter);
    reading.catch(() => {}); // the loop below sees the same error
    let index = -1;
    let coder: BodyCoder | undefined;
    const dataBreaker = lineBreaker();
    const finish = function* (): Generator<Buffer> {
      if (!coder) return;
      const tail = coder.end();
      coder = undefined;
      for (const b of tail) if (b.length) yield b;
    };
    for await (const obj of splitter as AsyncIterable<SplitterChunk>) {
      if (obj.type === 'node') {
        yield* finish();
        const node = obj as MimeNode;
        const packed = analysis.parts[++index];
        if (packed === undefined) throw new Error('the message changed between the two passes');
        const facts = unpack(packed);
        if (facts.headerLong) foldHeaders(node);
        const cte = transferEncoding(node);
        if (node.multipart) {
          // a multipart may only be labelled 7bit, 8bit or binary; its parts are converted one by one
          if (!caps.eightBitMime && (cte === '8bit' || cte === 'binary')) relabel(node, '7bit', facts);
        } else {
          const action = bodyAction(node, facts, caps);
          if (action === 'qp') relabel(node, 'quoted-printable', facts);
          else if (action === 'keep' && !caps.eightBitMime && (cte === '8bit' || cte === 'binary')) relabel(node, '7bit', facts);
          coder = coderFor(action, caps);
        }
        yield node.getHeaders();
        continue;
      }
      if (obj.type === 'body' && coder) {
        for (const b of coder.write(obj.value)) {
          if (b.length) yield b;
        }
        continue;
      }
      yield* finish();
      if (obj.type === 'data') yield* dataBreaker.write(obj.value);
      else yield obj.value;
    }
    yield* finish();
    await reading;
  }
  return Readable.from(run(), { objectMode: false });
}
