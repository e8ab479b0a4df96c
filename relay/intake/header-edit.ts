// Edits the header section of a mail on its way into the queue: fields a check adds go on top, fields it
// owns are dropped from what the client sent (a forged Authentication-Results with our authserv-id, a
// sender's own X-Spam-Flag: NO), and the filter may rewrite the Subject. One field at a time is held in
// memory; the body streams through untouched.
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A single header field longer than this is judged by its start (no real field is near it). */
const FIELD_LIMIT = 64 * 1024;

export interface HeaderEdit {
  /** Complete fields, each ending in CRLF, written above the message's own. */
  add: string[];
  /** Field names (any case) removed from the message's header section. */
  remove: string[];
  /** Authentication-Results fields with this authserv-id are removed (RFC 8601 5: forged or stale). */
  authservId?: string;
  /** A new Subject: value (already RFC 2047-encoded where needed). */
  subject?: string;
}

/** The authserv-id of an Authentication-Results value: its first token, after any comment (RFC 8601 2.2). */
export function authservIdOf(value: string): string {
  const v = value.replace(/\r\n[ \t]/g, ' ').replace(/\([^()]*\)/g, ' ').trim();
  const m = /^"?([^\s;"]+)"?/.exec(v);
  return m ? m[1].toLowerCase() : '';
}

/** Splits a header section into fields (a field runs on while lines start with a space or a tab). */
function fields(header: string): string[] {
  return header.split(/\r\n(?![ \t])/).filter((f) => f.length > 0);
}

export function editHeader(header: string, edit: HeaderEdit): string {
  const drop = new Set(edit.remove.map((n) => n.toLowerCase()));
  const ours = edit.authservId?.toLowerCase();
  const kept = fields(header).filter((field) => {
    const colon = field.indexOf(':');
    if (colon <= 0) return true;
    const name = field.slice(0, colon).trim().toLowerCase();
    if (drop.has(name)) return false;
    if (ours && name === 'authentication-results' && authservIdOf(field.slice(colon + 1)) === ours) return false;
    return true;
  });
  const out = kept.map((field) => {
    if (edit.subject === undefined || !/^subject[ \t]*:/i.test(field)) return field;
    return `Subject: ${edit.subject}`;
  });
  if (edit.subject !== undefined && !kept.some((f) => /^subject[ \t]*:/i.test(f))) out.push(`Subject: ${edit.subject}`);
  return out.map((f) => f + '\r\n').join('');
}

/** Where a header field ends: the CRLF not followed by a space or tab (-1: not known yet). */
function fieldEnd(buf: string, from: number): number {
  for (let i = buf.indexOf('\r\n', from); i >= 0; i = buf.indexOf('\r\n', i + 2)) {
    if (i + 2 >= buf.length) return -1;
    const next = buf.charCodeAt(i + 2);
    if (next !== 32 && next !== 9) return i;
  }
  return -1;
}

/**
 * Streams a message through the edit one header field at a time (only the current field is held, so a
 * huge header section costs no memory and cannot push a forged field past the editor); the body passes
 * through untouched. A single field longer than FIELD_LIMIT is judged by its start and then passed on,
 * or dropped, as it arrives.
 */
export class HeaderEditor extends Transform {
  private buf = '';
  private inBody = false;
  private started = false;
  private sawSubject = false;
  /** Inside an over-long field: pass it on, or drop it, until it ends. */
  private long: 'pass' | 'drop' | undefined;
  private readonly edit: HeaderEdit;
  constructor(edit: HeaderEdit) {
    super();
    this.edit = edit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.inBody) return cb(null, chunk);
    if (!this.started) this.start();
    this.buf += chunk.toString('latin1');
    this.consume(false);
    cb();
  }
  override _flush(cb: TransformCallback): void {
    if (!this.started) this.start();
    // a message that is all header (no blank line, no body): what is left is its last field
    if (!this.inBody) this.consume(true);
    cb();
  }
  /** The added fields are ours, text that may hold UTF-8 (an SMTPUTF8 address in a result): written as UTF-8. */
  private start(): void {
    this.started = true;
    if (this.edit.add.length) this.push(Buffer.from(this.edit.add.join(''), 'utf8'));
  }
  /** The message's own bytes went into the string as latin1 and come out unchanged. */
  private out(s: string): void {
    if (s) this.push(Buffer.from(s, 'latin1'));
  }
  private consume(atEnd: boolean): void {
    let pos = 0;
    const buf = this.buf;
    for (;;) {
      if (this.long) {
        const end = fieldEnd(buf, pos);
        // keep the last two characters back: they may be the CRLF that ends the field
        const upto = end >= 0 ? end + 2 : atEnd ? buf.length : Math.max(pos, buf.length - 2);
        if (this.long === 'pass') this.out(buf.slice(pos, upto));
        pos = upto;
        if (end < 0 && !atEnd) break;
        this.long = undefined;
        continue;
      }
      if (buf.startsWith('\r\n', pos)) {
        this.endHeader();
        this.inBody = true;
        this.out(buf.slice(pos));
        pos = buf.length;
        break;
      }
      if (pos >= buf.length) break;
      let end = fieldEnd(buf, pos);
      if (end < 0 && atEnd) end = buf.endsWith('\r\n') ? buf.length - 2 : buf.length;
      if (end >= 0) {
        const field = buf.slice(pos, end);
        if (this.keep(field)) this.out(this.rewrite(field) + '\r\n');
        pos = Math.min(end + 2, buf.length);
        if (atEnd && pos >= buf.length) break;
        continue;
      }
      if (buf.length - pos > FIELD_LIMIT) {
        this.long = this.keep(buf.slice(pos, pos + 4096)) ? 'pass' : 'drop';
        continue;
      }
      break;
    }
    this.buf = buf.slice(pos);
    if (atEnd && !this.inBody) this.endHeader();
  }
  private keep(field: string): boolean {
    return editHeader(field, { ...this.edit, subject: undefined }).length > 0;
  }
  private rewrite(field: string): string {
    if (this.edit.subject === undefined || !/^subject[ \t]*:/i.test(field)) return field;
    this.sawSubject = true;
    return `Subject: ${this.edit.subject}`;
  }
  /** A Subject the filter set goes in even when the message had none. */
  private endHeader(): void {
    if (this.edit.subject !== undefined && !this.sawSubject) {
      this.sawSubject = true;
      this.out(`Subject: ${this.edit.subject}\r\n`);
    }
  }
}

/** Copies a spooled message into `sink` (the queue file) through the edit, and ends the sink. */
export async function copyEdited(file: string, edit: HeaderEdit, sink: Writable): Promise<void> {
  await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), new HeaderEditor(edit), sink);
}
