// Mail addresses as resolution sees them: a local part and a domain, split at the last `@` (a quoted local
// part may contain `@`). Domains compare case-insensitively; local parts as each table says.
import { normalizeDomain } from './domains.ts';

export interface Address {
  local: string;
  /** Lower case; '' for a bare local part such as RFC 5321's `<postmaster>`. */
  domain: string;
}

export function parseAddress(address: string): Address {
  const at = address.lastIndexOf('@');
  if (at < 0) return { local: unquote(address), domain: '' };
  return { local: unquote(address.slice(0, at)), domain: normalizeDomain(address.slice(at + 1)) };
}

/** `"max"` is `max` (RFC 5321 4.1.2: a quoted string that needs no quotes is the same local part). */
function unquote(local: string): string {
  const m = /^"([A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*)"$/.exec(local);
  return m ? m[1] : local;
}

export function formatAddress(a: Address): string {
  return a.domain ? `${a.local}@${a.domain}` : a.local;
}

/**
 * A name that can be a mailbox file or directory under the mail store: no path separators, not hidden, no
 * control characters. Mailbox names come from tables, and from local parts only through a table entry.
 */
export function isSafeMailbox(name: string): boolean {
  return /^[A-Za-z0-9_+=-][A-Za-z0-9._+=-]{0,127}$/.test(name);
}

/** `user+tag` → `user` with delimiter `+`; undefined when there is no tag. */
export function withoutSubaddress(local: string, delimiter: string | undefined): string | undefined {
  if (!delimiter) return undefined;
  const i = local.indexOf(delimiter);
  return i > 0 ? local.slice(0, i) : undefined;
}
