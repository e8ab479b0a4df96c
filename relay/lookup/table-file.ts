// Reading table files in the formats people already keep (OpenSMTPD's file: tables, makemap sources):
// one entry per line, `#` comments, blank lines ignored, key and value separated by whitespace (or by a
// colon for /etc/aliases style). Line numbers are kept for error messages.

export interface TableLine {
  line: number;
  key: string;
  value: string;
}

/** Splits a table file into key/value lines. `colon`: also accept `key: value` (aliases files). */
export function parseTableLines(text: string, opts: { colon?: boolean } = {}): TableLine[] {
  const out: TableLine[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    let raw = lines[i];
    // aliases(5): a line starting with whitespace continues the previous one
    if (opts.colon && /^[ \t]/.test(raw) && out.length && raw.trim() && !raw.trim().startsWith('#')) {
      out[out.length - 1].value += ' ' + raw.trim();
      continue;
    }
    const hash = raw.indexOf('#');
    if (hash === 0 || (hash > 0 && /\s/.test(raw[hash - 1]))) raw = raw.slice(0, hash);
    raw = raw.trim();
    if (!raw) continue;
    let m = opts.colon ? /^("[^"]+"|[^\s:]+)\s*:\s*(.*)$/.exec(raw) : null;
    m ??= /^(\S+)(?:\s+(.*))?$/.exec(raw);
    if (!m) continue;
    out.push({ line: i + 1, key: m[1].replace(/^"|"$/g, ''), value: (m[2] ?? '').trim() });
  }
  return out;
}
