// Sender Rewriting Scheme (the libsrs2 / OpenSMTPD format), so that a copy a table forwards to another
// domain passes the next hop's SPF check: the envelope sender becomes an address of ours that encodes the
// original one, signed and dated, and a bounce to it is relayed back to the original sender.
//
//   SRS0=HHHH=TT=example.net=alice@relay.example.org      alice@example.net, forwarded by us
//   SRS1=HHHH=first.example==HHHH=TT=example.net=alice@relay.example.org   an SRS0 address of
//                                                          first.example, forwarded again by us
//
// HHHH: the first 4 characters of base64(HMAC-SHA1(key, lower-cased signed text)); TT: days since the
// epoch modulo 1024 in base32. After the SRS0/SRS1 tag the separator is `=` (the hash may hold + and /). Hashes are compared case-insensitively, as libsrs2 does, because some MTAs
// fold the case of local parts.
import { createHmac } from 'node:crypto';

const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const DAY_MS = 86_400_000;

export type SrsReverse = { ok: true; address: string } | { ok: false; reason: string };

export class Srs {
  private readonly keys: string[];
  readonly domain: string;
  private readonly maxAgeDays: number;

  constructor(keys: string[], domain: string, maxAgeDays: number) {
    if (!keys.length) throw new Error('SRS needs at least one key');
    this.keys = keys;
    this.domain = domain.toLowerCase();
    this.maxAgeDays = maxAgeDays;
  }

  /** Whether an address is one of our SRS addresses (by form; reverse() checks it). */
  isSrs(address: string): boolean {
    const at = address.lastIndexOf('@');
    return at > 0 && address.slice(at + 1).toLowerCase() === this.domain && /^SRS[01][=+-]/i.test(address);
  }

  /** The envelope sender a forwarded copy leaves with; the null sender stays null. */
  forward(sender: string, now = Date.now()): string {
    const at = sender.lastIndexOf('@');
    if (at <= 0) return sender;
    const local = sender.slice(0, at);
    const domain = sender.slice(at + 1);
    if (domain.toLowerCase() === this.domain && /^SRS[01][=+-]/i.test(local)) return sender; // ours already
    if (/^SRS0[=+-]/i.test(local)) {
      const rest = local.slice(4); // starts with its separator: the result has the customary "=="
      return `SRS1=${this.hash(domain, rest)}=${domain}=${rest}@${this.domain}`;
    }
    const srs1 = /^SRS1[=+-][^=]*=([^=]+)=(.*)$/i.exec(local);
    if (srs1) return `SRS1=${this.hash(srs1[1], srs1[2])}=${srs1[1]}=${srs1[2]}@${this.domain}`;
    const tt = stamp(now);
    return `SRS0=${this.hash(tt, domain, local)}=${tt}=${domain}=${local}@${this.domain}`;
  }

  /** The address an SRS address of ours stands for, if its hash and age check out. */
  reverse(address: string, now = Date.now()): SrsReverse {
    const local = address.slice(0, address.lastIndexOf('@'));
    const srs0 = /^SRS0[=+-]([^=]+)=([^=]{2})=([^=]+)=(.+)$/i.exec(local);
    if (srs0) {
      const [, hash, tt, domain, orig] = srs0;
      if (!this.verify(hash, tt, domain, orig)) return { ok: false, reason: 'bad hash' };
      const age = ageDays(tt, now);
      if (age === undefined || age > this.maxAgeDays) return { ok: false, reason: 'expired' };
      return { ok: true, address: `${orig}@${domain}` };
    }
    const srs1 = /^SRS1[=+-]([^=]+)=([^=]+)=(.*)$/i.exec(local);
    if (srs1) {
      const [, hash, host, rest] = srs1;
      if (!this.verify(hash, host, rest)) return { ok: false, reason: 'bad hash' };
      return { ok: true, address: `SRS0${rest}@${host}` };
    }
    return { ok: false, reason: 'not an SRS address' };
  }

  private hash(...parts: string[]): string {
    return mac(this.keys[0], parts);
  }

  private verify(hash: string, ...parts: string[]): boolean {
    return this.keys.some((k) => mac(k, parts).toLowerCase() === hash.toLowerCase());
  }
}

function mac(key: string, parts: string[]): string {
  const h = createHmac('sha1', key);
  for (const p of parts) h.update(p.toLowerCase());
  return h.digest('base64').slice(0, 4);
}

function stamp(now: number): string {
  const day = Math.floor(now / DAY_MS) % 1024;
  return BASE32[day >> 5] + BASE32[day & 31];
}

/** Days since the stamp was made, or undefined for a stamp that is not base32. */
function ageDays(tt: string, now: number): number | undefined {
  const hi = BASE32.indexOf(tt[0].toUpperCase());
  const lo = BASE32.indexOf(tt[1].toUpperCase());
  if (hi < 0 || lo < 0) return undefined;
  const today = Math.floor(now / DAY_MS) % 1024;
  return (today - ((hi << 5) | lo) + 1024) % 1024;
}

/** The shortest key an SRS key file may hold. */
export const SRS_MIN_KEY_LENGTH = 16;

/** The keys of an SRS key file: one per line, `#` comments; each at least SRS_MIN_KEY_LENGTH characters. */
export function parseSrsKeys(text: string): string[] {
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  if (!keys.length || keys.some((k) => k.length < SRS_MIN_KEY_LENGTH)) throw new Error(`give one key per line, each at least ${SRS_MIN_KEY_LENGTH} characters`);
  return keys;
}
