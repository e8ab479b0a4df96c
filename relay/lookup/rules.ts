// Rules (ordered, first match decides, as in smtpd.conf) turn into a RecipientPolicy here. A config
// without rules gets the core policy (authenticated sessions relay, nobody else), see policy.ts.
import type { Config } from '../config/schema.ts';
import type { Tables } from './tables.ts';
import type { RecipientPolicy } from './policy.ts';

export function buildPolicy(_config: Config, _tables: Tables): RecipientPolicy | undefined {
  return undefined;
}
