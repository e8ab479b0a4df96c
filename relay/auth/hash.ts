// Password hashes for credentials tables. New hashes are bcrypt; verification also takes SHA-512 and
// SHA-256 crypt (`$6$…`, `$5$…`), the format `smtpctl encrypt` writes, so an OpenSMTPD table works as is.
import bcrypt from 'bcryptjs';
import { verify as cryptVerify } from 'unixcrypt';

// 10 is bcrypt's customary cost: about 100 ms per check in bcryptjs, slow for guessing, fine for AUTH.
export const BCRYPT_COST = 10;

let dummy: string | undefined;
/** A hash to check unknown users against, so a wrong user name costs as much as a wrong password. */
export function dummyHash(): string {
  dummy ??= bcrypt.hashSync('no such user', BCRYPT_COST);
  return dummy;
}

export type HashScheme = 'bcrypt' | 'sha512-crypt' | 'sha256-crypt' | 'unknown';

export function hashScheme(hash: string): HashScheme {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (/^\$6\$/.test(hash)) return 'sha512-crypt';
  if (/^\$5\$/.test(hash)) return 'sha256-crypt';
  return 'unknown';
}

export async function hashPassword(password: string, cost = BCRYPT_COST): Promise<string> {
  return bcrypt.hash(password, cost);
}

/** True when password matches hash; false for a wrong password and for a hash of an unknown scheme. */
export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  switch (hashScheme(hash)) {
    case 'bcrypt':
      return bcrypt.compare(password, hash);
    case 'sha512-crypt':
    case 'sha256-crypt':
      try {
        return cryptVerify(password, hash);
      } catch {
        return false;
      }
    default:
      return false;
  }
}
