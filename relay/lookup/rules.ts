// Rules (ordered, first match decides, as in smtpd.conf) turn into a RecipientPolicy here. A config
// without rules gets the core policy (authenticated sessions relay, nobody else), see policy.ts.
import type { Config } from '../config/schema.ts';
import { Resolver } from './expand.ts';
import type { RecipientPolicy } from './policy.ts';
import { compileRules } from './rule-match.ts';
import type { Tables } from './tables.ts';

export function buildPolicy(config: Config, tables: Tables): RecipientPolicy | undefined {
  if (!config.rules) return undefined;
  const resolver = new Resolver(compileRules(config, tables), tables.mappings.values(), config.resolution, tables.srs);
  return { decide: (ctx, address) => resolver.resolve(ctx, address) };
}
