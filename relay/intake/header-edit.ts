// Edits the header section of a mail on its way into the queue: fields a check adds go on top, fields it
// owns are dropped from what the client sent (a forged Authentication-Results with our authserv-id, a
// sender's own X-Spam-Flag: NO), and the filter may rewrite the Subject. Only the header section is held
// in memory (up to HEADER_LIMIT); the body streams through untouched.
import { createReadStream } from 'node:fs';
import { Transform, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A header section longer than this is passed on unedited (no real mail has one; a hostile one costs nothing). */
const HEADER_LIMIT = 1024 * 1024;

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

/** Streams a message through editHeader: the header section is buffered, edited, and the rest passed on. */
export class HeaderEditor extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;
  private done = false;
  private readonly edit: HeaderEdit;
  constructor(edit: HeaderEdit) {
    super();
    this.edit = edit;
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.done) return cb(null, chunk);
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    const all = Buffer.concat(this.held);
    this.held = [all];
    // the blank line that ends the header section; a message that starts with it has no header at all
    const end = all.subarray(0, 2).toString() === '\r\n' ? 0 : all.indexOf('\r\n\r\n');
    if (end >= 0) {
      const headerEnd = end === 0 ? 0 : end + 2;
      this.release(this.edited(all.subarray(0, headerEnd).toString('latin1')), all.subarray(headerEnd));
    } else if (this.heldBytes > HEADER_LIMIT) {
      this.release(this.edit.add.join(''), all);
    }
    cb();
  }
  override _flush(cb: TransformCallback): void {
    // a message that is all header (no blank line, no body)
    if (!this.done) {
      const all = Buffer.concat(this.held).toString('latin1');
      const body = all.endsWith('\r\n') ? all : all + '\r\n';
      this.release(this.edited(body), Buffer.alloc(0));
    }
    cb();
  }
  private edited(header: string): string {
    return this.edit.add.join('') + editHeader(header.replace(/\r\n$/, ''), this.edit);
  }
  private release(header: string, rest: Buffer): void {
    this.done = true;
    this.held = [];
    this.push(Buffer.from(header, 'latin1'));
    if (rest.length) this.push(rest);
  }
}

/** Copies a spooled message into `sink` (the queue file) through the edit, and ends the sink. */
export async function copyEdited(file: string, edit: HeaderEdit, sink: Writable): Promise<void> {
  await pipeline(createReadStream(file, { highWaterMark: 256 * 1024 }), new HeaderEditor(edit), sink);
}
