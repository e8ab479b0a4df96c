// One config rule compiled for matching: where the mail comes from (any, local, networks), the listener's
// tag, authentication, and whom it is for (any, local, domains). Tables are resolved once, at (re)load.
import { hostname as osHostname } from 'node:os';
import type { ActionConfig, Config, RuleConfig } from '../config/schema.ts';
import { reply, type SmtpReply } from '../protocol/replies.ts';
import { NetworkList } from './cidr.ts';
import { DomainSet } from './domains.ts';
import type { MappingTable } from './mapping.ts';
import type { RecipientContext } from './policy.ts';
import type { Tables } from './tables.ts';

const LOOPBACK = new NetworkList(['127.0.0.0/8', '::1/128']);

export interface CompiledRule {
  /** `rules[i]` or its name, for logs. */
  label: string;
  forLocal: boolean;
  matchesSource(ctx: RecipientContext, internal: boolean): boolean;
  matchesDomain(domain: string): boolean;
  virtual?: MappingTable;
  alias?: MappingTable;
  action?: { name: string; config: ActionConfig };
  reject?: SmtpReply;
}

/**
 * The names `for local` means: the relay's hostname, each listener's, localhost, and the bare local part of
 * RFC 5321's `<postmaster>` (domain '').
 */
export function localDomains(config: Config): DomainSet {
  const set = new DomainSet();
  for (const n of [config.hostname ?? osHostname(), ...config.listeners.map((l) => l.hostname), 'localhost', 'localhost.localdomain']) {
    if (n) set.add(n);
  }
  return set;
}

function sourceMatcher(rule: RuleConfig, tables: Tables): (ctx: RecipientContext, internal: boolean) => boolean {
  const from = rule.from;
  // Addresses a table expands to are matched as mail from the relay itself, as OpenSMTPD does: `from local`
  // and `from any` rules apply to them, network rules do not.
  let source: (ctx: RecipientContext, internal: boolean) => boolean;
  if (from === 'any') source = () => true;
  else if (from === 'local') source = (ctx, internal) => internal || LOOPBACK.has(ctx.clientAddress);
  else {
    const list = 'networks' in from ? new NetworkList(from.networks) : tables.networks.get(from.table)!;
    source = (ctx, internal) => !internal && list.has(ctx.clientAddress);
  }
  const { tag, auth } = rule;
  return (ctx, internal) => {
    if (!source(ctx, internal)) return false;
    if (tag !== undefined && ctx.tag !== tag) return false;
    if (auth === true && ctx.user === undefined) return false;
    if (auth === false && ctx.user !== undefined) return false;
    if (Array.isArray(auth) && (ctx.user === undefined || !auth.includes(ctx.user))) return false;
    return true;
  };
}

function domainMatcher(rule: RuleConfig, tables: Tables, local: DomainSet): (domain: string) => boolean {
  const f = rule.for;
  if (f === 'any') return () => true;
  if (f === 'local') return (d) => d === '' || local.has(d);
  if ('domains' in f) {
    const set = tables.domains.get(f.domains)!;
    return (d) => set.has(d);
  }
  const set = new DomainSet();
  for (const d of Array.isArray(f.domain) ? f.domain : [f.domain]) set.add(d);
  return (d) => set.has(d);
}

/** Compiles the config's rules; the config has passed its cross-checks, so every name resolves. */
export function compileRules(config: Config, tables: Tables): CompiledRule[] {
  const local = localDomains(config);
  return (config.rules ?? []).map((rule, i) => ({
    label: rule.name ?? `rules[${i}]`,
    forLocal: rule.for === 'local',
    matchesSource: sourceMatcher(rule, tables),
    matchesDomain: domainMatcher(rule, tables, local),
    virtual: rule.virtual !== undefined ? tables.mappings.get(rule.virtual) : undefined,
    alias: rule.alias !== undefined ? tables.mappings.get(rule.alias) : undefined,
    action: rule.action !== undefined ? { name: rule.action, config: config.actions[rule.action] } : undefined,
    reject: rule.reject ? reply(rule.reject.code, rule.reject.status, rule.reject.text) : undefined,
  }));
}
