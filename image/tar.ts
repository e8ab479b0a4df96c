// A deterministic tar writer and a small reader, so the image does not depend on the host's tar flags.
// Entries come out in the order given (callers sort them), owned by 0:0 with empty user/group names, one
// fixed mtime, modes normalised by the caller; ustar headers, with a PAX `path`/`linkpath` record only when
// a name does not fit. Regular files, directories and symlinks; nothing else is needed for a root filesystem.

export type TarEntry =
  | { type: 'dir'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; data: Buffer }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value: number, width: number): string {
  // width includes the trailing NUL
  const s = value.toString(8);
  if (s.length > width - 1) throw new Error(`tar: ${value} does not fit in ${width - 1} octal digits`);
  return s.padStart(width - 1, '0') + '\0';
}

function put(buf: Buffer, offset: number, width: number, text: string): void {
  const bytes = encoder.encode(text);
  if (bytes.length > width) throw new Error(`tar: field too long: ${text}`);
  buf.set(bytes, offset);
}

/** Splits a path into ustar prefix (≤155 bytes) and name (≤100 bytes), or undefined when it cannot. */
function ustarName(path: string): { prefix: string; name: string } | undefined {
  if (Buffer.byteLength(path) <= 100) return { prefix: '', name: path };
  for (let i = path.indexOf('/'); i !== -1; i = path.indexOf('/', i + 1)) {
    const prefix = path.slice(0, i);
    const name = path.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100 && name !== '') return { prefix, name };
  }
  return undefined;
}

function header(fields: { name: string; prefix: string; mode: number; size: number; mtime: number; typeflag: string; linkname: string }): Buffer {
  const h = Buffer.alloc(BLOCK);
  put(h, 0, 100, fields.name);
  put(h, 100, 8, octal(fields.mode, 8));
  put(h, 108, 8, octal(0, 8)); // uid
  put(h, 116, 8, octal(0, 8)); // gid
  put(h, 124, 12, octal(fields.size, 12));
  put(h, 136, 12, octal(fields.mtime, 12));
  h.fill(0x20, 148, 156); // checksum placeholder: spaces
  put(h, 156, 1, fields.typeflag);
  put(h, 157, 100, fields.linkname);
  put(h, 257, 6, 'ustar\0');
  put(h, 263, 2, '00');
  // uname/gname stay empty; devmajor/devminor zero
  put(h, 329, 8, octal(0, 8));
  put(h, 337, 8, octal(0, 8));
  put(h, 345, 155, fields.prefix);
  let sum = 0;
  for (const b of h) sum += b;
  put(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function pad(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

function paxRecord(key: string, value: string): string {
  // "<len> <key>=<value>\n", where len counts itself
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** Serialises entries (already in their final order) into a tar archive with every mtime set to `mtime`. */
export function writeTar(entries: readonly TarEntry[], mtime: number): Buffer {
  const chunks: Buffer[] = [];
  for (const e of entries) {
    const path = e.type === 'dir' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
    const linkname = e.type === 'symlink' ? e.target : '';
    const split = ustarName(path);
    const pax: string[] = [];
    if (!split) pax.push(paxRecord('path', path));
    if (Buffer.byteLength(linkname) > 100) pax.push(paxRecord('linkpath', linkname));
    if (pax.length > 0) {
      const body = Buffer.from(pax.join(''));
      const paxName = `PaxHeaders/${path.replace(/\/$/, '').split('/').pop()}`.slice(0, 100);
      chunks.push(header({ name: paxName, prefix: '', mode: 0o644, size: body.length, mtime, typeflag: 'x', linkname: '' }), body, pad(body.length));
    }
    const name = split ?? { prefix: '', name: path.slice(0, 100) };
    const size = e.type === 'file' ? e.data.length : 0;
    const mode = e.type === 'symlink' ? 0o777 : e.mode;
    const typeflag = e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2';
    chunks.push(header({ ...name, mode, size, mtime, typeflag, linkname: linkname.slice(0, 100) }));
    if (e.type === 'file') chunks.push(e.data, pad(e.data.length));
  }
  chunks.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(chunks);
}

export interface ReadEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkname: string;
  data: Buffer;
}

function cstr(buf: Buffer, start: number, len: number): string {
  const slice = buf.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return slice.subarray(0, nul === -1 ? len : nul).toString('utf8');
}

function parseOctal(buf: Buffer, start: number, len: number): number {
  const s = cstr(buf, start, len).trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** Reads a (ustar/PAX) tar archive; enough for checking what the writer, npm or docker produced. */
export function readTar(buf: Buffer): ReadEntry[] {
  const out: ReadEntry[] = [];
  let offset = 0;
  let paxPath: string | undefined;
  let paxLink: string | undefined;
  while (offset + BLOCK <= buf.length) {
    const h = buf.subarray(offset, offset + BLOCK);
    if (h.every((b) => b === 0)) break;
    const size = parseOctal(h, 124, 12);
    const typeflag = String.fromCharCode(h[156] || 0x30);
    const data = buf.subarray(offset + BLOCK, offset + BLOCK + size);
    offset += BLOCK + Math.ceil(size / BLOCK) * BLOCK;
    if (typeflag === 'x') {
      for (const rec of data.toString('utf8').split('\n')) {
        const m = /^\d+ ([^=]+)=(.*)$/s.exec(rec);
        if (m?.[1] === 'path') paxPath = m[2];
        if (m?.[1] === 'linkpath') paxLink = m[2];
      }
      continue;
    }
    const prefix = cstr(h, 345, 155);
    const name = cstr(h, 0, 100);
    const path = paxPath ?? (prefix ? `${prefix}/${name}` : name);
    const linkname = paxLink ?? cstr(h, 157, 100);
    paxPath = paxLink = undefined;
    const type = typeflag === '0' || typeflag === '\0' ? 'file' : typeflag === '5' ? 'dir' : typeflag === '2' ? 'symlink' : 'other';
    out.push({ path, type, mode: parseOctal(h, 100, 8), uid: parseOctal(h, 108, 8), gid: parseOctal(h, 116, 8), mtime: parseOctal(h, 136, 12), linkname, data: Buffer.from(data) });
  }
  return out;
}
