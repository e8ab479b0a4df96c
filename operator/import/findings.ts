// What the import reports. A syntax error stops it (exit 2); an error in the meaning (a missing table
// file, an object that would not validate) stops it too (exit 1). Everything smtpd.conf says that kubemta
// cannot say is a Finding: `dropped` (left out) or `changed` (imported with a different meaning), always
// with the line it comes from and the reason, never silently.

export class ImportSyntaxError extends Error {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  constructor(file: string, line: number, col: number, message: string) {
    super(`${file}:${line}:${col}: ${message}`);
    this.file = file;
    this.line = line;
    this.col = col;
  }
}

/** A problem that makes the output useless (a table file that is not there, an invalid object). */
export class ImportError extends Error {}

export type FindingKind = 'dropped' | 'changed';

export interface Finding {
  kind: FindingKind;
  /** The config's line, or a table file's (then `file` names it). */
  line: number;
  col?: number;
  file?: string;
  /** The statement or option concerned, as written (`mask-src`, `filter "rspamd" …`). */
  what: string;
  reason: string;
}

/** Collects findings in the order they are made; one per (line, what, reason). */
export class Findings {
  readonly list: Finding[] = [];
  private readonly seen = new Set<string>();

  add(f: Finding): void {
    const key = `${f.file ?? ''}:${f.line}:${f.what}:${f.reason}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(f);
  }

  dropped(at: { line: number; col?: number }, what: string, reason: string, file?: string): void {
    this.add({ kind: 'dropped', line: at.line, col: at.col, what, reason, ...(file ? { file } : {}) });
  }

  changed(at: { line: number; col?: number }, what: string, reason: string, file?: string): void {
    this.add({ kind: 'changed', line: at.line, col: at.col, what, reason, ...(file ? { file } : {}) });
  }

  /** Sorted by file (the config first) and line, for output. */
  sorted(): Finding[] {
    return [...this.list].sort((a, b) => (a.file ?? '').localeCompare(b.file ?? '') || a.line - b.line || (a.col ?? 0) - (b.col ?? 0));
  }
}

export function formatFinding(f: Finding, configName: string): string {
  return `${f.file ?? configName}:${f.line}: ${f.kind}: ${f.what}: ${f.reason}`;
}
