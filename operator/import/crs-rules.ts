// Rules → what kubemta says about mail: `for local` → MailServer.spec.local (delivery, aliases);
// `for domain …` → a MailDomain (delivery, users from the virtual table, catch-all), in rule order by
// priority; `for any … relay` → MailServer.spec.outbound (relayFrom: tags, authenticated, networks;
// smarthost). kubemta's rule shapes are fixed, so every condition they cannot hold drops the rule, reported.
import { DomainPattern } from '../api/fields.ts';
import type { Ctx } from './context.ts';
import { deliverableTargets, usersToCrs } from './crs-users.ts';
import type { ActionDecl, RuleDecl } from './model.ts';
import { relayHost, relayOutbound, type Outbound } from './outbound.ts';

const LOOPBACK_NETS = ['127.0.0.0/8', '::1/128'];
/** A domain name or OpenSMTPD wildcard pattern, as the MailDomain schema takes it. */
const DOMAIN_PATTERN = new RegExp(DomainPattern().pattern!);

export interface RulesResult {
  local?: { delivery: 'mbox' | 'maildir'; aliases?: Record<string, string[]> };
  outbound: Outbound;
  queueLifetimeSeconds?: number;
}

/** Why a rule cannot be imported at all, or undefined. */
function unsupported(r: RuleDecl): string | undefined {
  if (r.unsupported.length) return `${r.unsupported.map((u) => u.what).join(', ')}: kubemta's rules do not match on this`;
  const neg = [r.from.negated && 'from', r.for.negated && 'for', r.tag?.negated && 'tag', r.auth?.negated && 'auth'].filter(Boolean);
  if (neg.length) return `negated ${neg.join(', ')}: kubemta's rules have no negation`;
  if (r.from.regex || r.for.regex || r.tag?.regex || r.auth?.regex) return 'regex matching: kubemta matches names and wildcard domains only';
  if (['socket', 'rdns', 'mail-from'].includes(r.from.kind)) return `from ${r.from.kind}: kubemta's rules do not match on this`;
  if (r.for.kind === 'rcpt-to') return 'for rcpt-to: kubemta\'s rules do not match single recipients';
  if (r.decision.kind === 'reject') return 'kubemta refuses whatever no rule accepts; explicit reject rules have no equivalent';
  const m = r.decision.action.method;
  if (m === 'mda') return 'delivery to an MDA command has no kubemta equivalent';
  if (m === 'expand-only' || m === 'forward-only') return `${m} has no kubemta equivalent`;
  if (m === 'none') return 'an accept rule without a delivery has no kubemta equivalent';
  return undefined;
}

function localRule(ctx: Ctx, r: RuleDecl, a: ActionDecl, result: RulesResult): void {
  if (result.local) return ctx.findings.dropped(r, r.text, 'a second rule for local names (kubemta has one)');
  if (a.method !== 'mbox' && a.method !== 'maildir') return ctx.findings.dropped(r, r.text, `local names are delivered to mbox or maildir in kubemta, not ${a.method}`);
  if (r.from.kind !== 'local') ctx.findings.changed(r, `from ${r.from.kind}`, 'mail for local names is taken from clients in the pod only (a Listener on 127.0.0.1)');
  if (a.virtual) ctx.findings.changed(a.virtual, 'virtual', 'read as the aliases of local names');
  const ref = a.alias ?? a.virtual;
  let aliases: Record<string, string[]> | undefined;
  const data = ref ? ctx.tables.read(ref) : undefined;
  if (ref && !data) ctx.findings.dropped(ref, 'alias', `a ${ctx.tables.backend(ref)} table is not read`);
  if (data) {
    aliases = {};
    for (const e of data.entries) {
      const key = e.key.toLowerCase();
      if (aliases[key]) {
        ctx.findings.dropped({ line: e.line }, e.key, 'a second entry for the same alias (the first one is kept)', data.file);
        continue;
      }
      const to = deliverableTargets(ctx, data, e.key, e.value, e.line);
      if (to.length) aliases[key] = to;
    }
  }
  result.local = { delivery: a.method, ...(aliases && Object.keys(aliases).length ? { aliases } : {}) };
}

function domainDelivery(ctx: Ctx, r: RuleDecl, a: ActionDecl): Record<string, unknown> | undefined {
  if (a.method === 'mbox' || a.method === 'maildir') return { type: a.method };
  if (a.method === 'lmtp') {
    const m = /^(.+):(\d+)$/.exec(a.lmtp!.destination);
    if (!m) return void ctx.findings.dropped(r, r.text, `LMTP to ${a.lmtp!.destination}: kubemta delivers LMTP to host:port only, not to a socket`);
    return { type: 'lmtp', lmtp: { host: m[1], port: Number(m[2]), rcptTo: a.lmtp!.rcptTo ? 'address' : 'mailbox' } };
  }
  const host = relayHost(ctx, a);
  if (a.relay.auth || a.relay.tls || a.relay.helo) ctx.findings.changed(a, 'relay options', 'a MailDomain relays with the MailServer\'s outbound settings; auth, tls and helo of this action are not per domain');
  return { type: 'relay', ...(host ? { relay: { smarthost: host } } : {}) };
}

function domainRule(ctx: Ctx, r: RuleDecl, a: ActionDecl, order: number, server: string): void {
  const ref = r.for.value!;
  const data = ctx.tables.read(ref);
  if (!data) return ctx.findings.dropped(r, r.text, `domains in a ${ctx.tables.backend(ref)} table are not read`);
  const patterns: string[] = [];
  for (const e of data.entries) {
    if (DOMAIN_PATTERN.test(e.key)) patterns.push(e.key.toLowerCase());
    else ctx.findings.dropped({ line: e.line }, e.key, 'not a domain name or wildcard pattern', data.file ?? ctx.configName);
  }
  if (!patterns.length) return ctx.findings.dropped(r, r.text, 'no domains');
  const delivery = domainDelivery(ctx, r, a);
  if (!delivery) return;
  if (r.from.kind !== 'any') ctx.findings.changed(r, `from ${r.from.kind}`, 'a MailDomain takes mail from any client');
  if (r.tag || r.auth) ctx.findings.changed(r, r.tag ? `tag ${r.tag.value}` : 'auth', 'a MailDomain takes mail from any client, tagged or not, authenticated or not');
  const name = ctx.name('MailDomain', ref.kind === 'table' ? ref.name : patterns[0]);
  const spec: Record<string, unknown> = { mailServerRef: { name: server }, domains: patterns, delivery, priority: Math.min(1000, 10 * order) };
  ctx.emit('MailDomain', name, { spec }, { line: r.line, text: r.text });
  const users = a.virtual ?? a.alias;
  const { catchAll } = users ? usersToCrs(ctx, users, name, patterns, r.line) : {};
  if (catchAll) spec.catchAll = catchAll;
  if (!a.virtual) {
    ctx.findings.changed(r, r.text, `system users (getpwnam) have no kubemta equivalent: MailDomain "${name}" takes mail only for its VirtualUsers${a.alias ? ' (made from the aliases)' : ''}; add one per mailbox`);
  }
}

/** Adds the rule to relayFrom; false when it cannot be imported (reported). */
function relayRule(ctx: Ctx, r: RuleDecl, a: ActionDecl, result: RulesResult): boolean {
  const drop = (reason: string) => {
    ctx.findings.dropped(r, r.text, reason);
    return false;
  };
  if (a.method !== 'relay') return drop(`"for any" with ${a.method} delivery has no kubemta equivalent (mail for other domains is relayed or refused)`);
  const from = result.outbound.relayFrom;
  if (r.tag) from.tags = [...new Set([...(from.tags ?? []), r.tag.value])];
  else if (r.auth) {
    from.authenticated = true;
    if (r.auth.users) ctx.findings.changed(r.auth, 'auth users', 'every authenticated user may relay, not only the ones listed');
  } else if (r.from.kind === 'local') {
    from.networks = [...new Set([...(from.networks ?? []), ...LOOPBACK_NETS])];
    // OpenSMTPD ≤ 6.3 counts authenticated sessions as local
    if (r.grammar === 'old') from.authenticated = true;
  } else if (r.from.kind === 'src') {
    const data = ctx.tables.read(r.from.value!);
    if (!data) return drop(`networks in a ${ctx.tables.backend(r.from.value!)} table are not read`);
    from.networks = [...new Set([...(from.networks ?? []), ...data.entries.map((e) => e.key)])];
  } else return drop('an open relay (anyone may send anywhere): kubemta does not import it');
  relayOutbound(ctx, a, result.outbound);
  return true;
}

function ttl(ctx: Ctx, a: ActionDecl, result: RulesResult): void {
  if (a.ttlSeconds === undefined) return;
  if (result.queueLifetimeSeconds === undefined) result.queueLifetimeSeconds = a.ttlSeconds;
  else if (result.queueLifetimeSeconds !== a.ttlSeconds) ctx.findings.changed(a, `ttl ${a.ttlSeconds}s`, `one queue lifetime per MailServer (${result.queueLifetimeSeconds}s is kept)`);
}

export function rulesToCrs(ctx: Ctx, server: string): RulesResult {
  const result: RulesResult = { outbound: { relayFrom: { authenticated: false } } };
  let relayBefore: RuleDecl | undefined;
  let domains = 0;
  for (const r of ctx.conf.rules) {
    const why = unsupported(r);
    if (why) {
      ctx.findings.dropped(r, r.text, why);
      continue;
    }
    const a = (r.decision as { action: ActionDecl }).action;
    ttl(ctx, a, result);
    if (r.for.kind === 'any') {
      if (relayRule(ctx, r, a, result)) relayBefore ??= r;
      continue;
    }
    if (relayBefore) ctx.findings.changed(r, r.text, `rule order: kubemta decides local names and MailDomains before relaying, so line ${relayBefore.line} no longer catches this mail first`);
    if (r.for.kind === 'local') localRule(ctx, r, a, result);
    else domainRule(ctx, r, a, ++domains, server);
  }
  return result;
}
