// Aliases and virtual tables: a key (a local name, a full address, `@domain`) to a list of targets. Targets
// are checked when the table loads, so a bad line fails the (re)load with its line number instead of
// failing mail later.
import { isSafeMailbox } from './address.ts';
import { normalizeDomain } from './domains.ts';

export type Target =
  | { kind: 'address'; address: string }
  | { kind: 'user'; name: string }
  /** OpenSMTPD's `error:550 text`: the recipient is refused with this reply. */
  | { kind: 'error'; code: number; status: string; text: string };

export class TableLineError extends Error {}

const UNSUPPORTED: [RegExp, string][] = [
  [/^\|/, 'delivery to a command (|…) is not supported: kubemta delivers into the mail store, by LMTP or by SMTP'],
  [/^\//, 'delivery to a file (/…) is not supported: kubemta delivers into the mail store, by LMTP or by SMTP'],
  [/^:include:/i, ':include: lists are not supported: put the addresses in the table'],
];

/** Splits `a, b c` into targets: commas and blanks separate, a quoted local part keeps its blanks. */
export function splitTargets(value: string): string[] {
  // `error:550 5.1.6 text` is one target whose text has blanks (OpenSMTPD's error: targets stand alone)
  if (/^\s*error:/i.test(value)) return [value.trim()];
  return value.match(/(?:"[^"]*"|[^\s,"])+/g) ?? [];
}

export function parseTarget(raw: string, caseSensitive: boolean): Target {
  for (const [re, why] of UNSUPPORTED) if (re.test(raw)) throw new TableLineError(`"${raw}": ${why}`);
  const err = /^error:([45]\d\d)(?:\s*([45]\.\d{1,3}\.\d{1,3}))?\s*(.*)$/i.exec(raw);
  if (err) {
    const code = Number(err[1]);
    return { kind: 'error', code, status: err[2] ?? `${err[1][0]}.0.0`, text: err[3] || 'Recipient refused' };
  }
  const at = raw.lastIndexOf('@');
  if (at === 0) throw new TableLineError(`"${raw}": a target cannot be a catch-all; name an address or a mailbox`);
  if (at > 0) {
    const domain = raw.slice(at + 1);
    if (!/^[A-Za-z0-9.-]+$/.test(domain) && !/^\[[0-9A-Fa-f.:]+\]$/.test(domain)) throw new TableLineError(`"${raw}": not a mail address`);
    return { kind: 'address', address: normalizeKey(raw, caseSensitive) };
  }
  const name = caseSensitive ? raw : raw.toLowerCase();
  if (!isSafeMailbox(name)) throw new TableLineError(`"${raw}": not a mailbox name (letters, digits, . _ + = -; no path)`);
  return { kind: 'user', name };
}

/** Domains always lower case; local parts too unless the table is case-sensitive. */
export function normalizeKey(key: string, caseSensitive: boolean): string {
  const at = key.lastIndexOf('@');
  if (at < 0) return caseSensitive ? key : key.toLowerCase();
  const local = key.slice(0, at);
  return (caseSensitive ? local : local.toLowerCase()) + '@' + normalizeDomain(key.slice(at + 1));
}

export class MappingTable {
  readonly name: string;
  readonly kind: 'aliases' | 'virtual';
  readonly caseSensitive: boolean;
  private readonly map = new Map<string, Target[]>();
  /** One object per distinct target: big tables name few mailboxes many times (targets are never mutated). */
  private readonly interned = new Map<string, Target>();

  constructor(name: string, kind: 'aliases' | 'virtual', caseSensitive: boolean) {
    this.name = name;
    this.kind = kind;
    this.caseSensitive = caseSensitive;
  }

  /** Adds one line; a repeated key replaces the earlier one (the last line wins, as with makemap). */
  set(key: string, targets: string[]): void {
    if (!key) throw new TableLineError('empty key');
    if (this.kind === 'aliases' && key.includes('@')) {
      throw new TableLineError(`"${key}": an aliases table maps local names; use a virtual table for addresses`);
    }
    if (targets.length === 0) throw new TableLineError(`"${key}" has no target`);
    this.map.set(normalizeKey(key, this.caseSensitive), targets.map((t) => this.intern(t)));
  }

  private intern(raw: string): Target {
    let t = this.interned.get(raw);
    if (!t) this.interned.set(raw, (t = parseTarget(raw, this.caseSensitive)));
    return t;
  }

  get(key: string): Target[] | undefined {
    return this.map.get(normalizeKey(key, this.caseSensitive));
  }

  get size(): number {
    return this.map.size;
  }

  /** Every mailbox name a target of this table names. */
  *users(): Iterable<string> {
    for (const targets of this.map.values()) for (const t of targets) if (t.kind === 'user') yield t.name;
  }
}
