// Recipient resolution with OpenSMTPD's expansion semantics, done at RCPT time so that every refusal the
// relay can know of is an SMTP reply, not a bounce later (only a forward's next hop can still refuse):
//
// - The first rule whose source and domain match decides. Without one: 550 5.7.1 (never an open relay).
// - A rule's virtual table is tried with the full address, (with sub-addressing) the address without its
//   tag, the bare local part, then the `@domain` catch-all; an alias table (`for local`) with the local part.
// - A target address is resolved again through the rules, as mail from the relay itself (`from local`); an
//   address no rule takes is forwarded onward (the table's owner asked for it). A target name is a mailbox,
//   after the rule's own tables and then the local aliases (so `postmaster` resolves through aliases).
// - A name or address that maps to itself is final: a mailbox of that name, or the address delivered by
//   its rule (Listing 3's `max max`). Any other repeat is a loop: that branch ends; if no branch delivers,
//   550 5.4.6. Chains longer than resolution.maxDepth get 550 5.4.6 too.
// - `postmaster` of every domain a local rule handles is accepted even without an entry.
// - With outbound.srs, an SRS address of ours whose hash and age check out is relayed back to the sender it
//   encodes (a bounce of a forwarded copy); a forged or expired one gets 550 5.7.1.
// - An address in a handled domain with no entry (and no catch-all) gets 550 5.1.1, also when it is reached
//   through a table: a copy is never silently dropped.
import { routeKey, type RecipientRoute } from '../queue/envelope.ts';
import { Replies, type SmtpReply } from '../protocol/replies.ts';
import { formatAddress, isSafeMailbox, parseAddress, withoutSubaddress, type Address } from './address.ts';
import type { MappingTable, Target } from './mapping.ts';
import type { RecipientContext, RecipientDecision } from './policy.ts';
import type { CompiledRule } from './rule-match.ts';
import type { Srs } from './srs.ts';

class Refusal extends Error {
  readonly reply: SmtpReply;
  constructor(reply: SmtpReply) {
    super(reply.text);
    this.reply = reply;
  }
}

/** Forward of a table target that no rule takes: relayed onward with the default relay settings. */
const FORWARD: CompiledRule = {
  label: 'forward',
  forLocal: false,
  matchesSource: () => true,
  matchesDomain: () => true,
  action: { name: '', config: { type: 'relay' } },
};

interface Walk {
  ctx: RecipientContext;
  /** The address as given in RCPT TO, lower case: a relay route to another address is a forward. */
  rcpt: string;
  seen: Set<string>;
  routes: RecipientRoute[];
  loop: boolean;
  nodes: number;
  /** Set when an address the walk reached has no entry. */
  unknown?: string;
}

export interface ResolverOptions {
  subaddressDelimiter?: string;
  maxDepth: number;
  maxTargets: number;
}

export class Resolver {
  private readonly rules: CompiledRule[];
  private readonly opts: ResolverOptions;
  /** The first `for local` rule with a local action: where bare names and `<postmaster>` go. */
  private readonly localRule: CompiledRule | undefined;
  /** Every mailbox a table names: `for local` without an alias entry accepts only these. */
  private readonly mailboxes: Set<string>;

  private readonly srs: Srs | undefined;

  constructor(rules: CompiledRule[], mappings: Iterable<MappingTable>, opts: ResolverOptions, srs?: Srs) {
    this.rules = rules;
    this.opts = opts;
    this.srs = srs;
    this.localRule = rules.find((r) => r.forLocal && r.action && r.action.config.type !== 'relay');
    this.mailboxes = new Set();
    for (const m of mappings) {
      for (const u of m.users()) this.mailboxes.add(u.toLowerCase());
    }
  }

  resolve(ctx: RecipientContext, rcpt: string): RecipientDecision {
    if (this.srs?.isSrs(rcpt)) {
      // a bounce (or reply) to a sender we rewrote: back to the original sender, from anyone
      const back = this.srs.reverse(rcpt);
      return back.ok ? { kind: 'accept', route: [{ kind: 'relay', address: back.address }] } : { kind: 'reject', reply: Replies.badSrs };
    }
    const addr = parseAddress(rcpt);
    const rule = this.match(ctx, addr, false);
    if (!rule) return { kind: 'reject', reply: Replies.relayDenied };
    if (rule.reject) return { kind: 'reject', reply: rule.reject };
    const walk: Walk = { ctx, rcpt: formatAddress(addr).toLowerCase(), seen: new Set(), routes: [], loop: false, nodes: 0 };
    try {
      this.expandAddress(walk, addr, rule, 0);
    } catch (err) {
      if (err instanceof Refusal) return { kind: 'reject', reply: err.reply };
      throw err;
    }
    if (walk.unknown !== undefined) return { kind: 'reject', reply: Replies.unknownUser };
    if (walk.routes.length === 0) return { kind: 'reject', reply: walk.loop ? Replies.routingLoop : Replies.unknownUser };
    return { kind: 'accept', route: walk.routes };
  }

  private match(ctx: RecipientContext, addr: Address, internal: boolean): CompiledRule | undefined {
    return this.rules.find((r) => r.matchesSource(ctx, internal) && r.matchesDomain(addr.domain));
  }

  private visit(walk: Walk, key: string, depth: number): boolean {
    if (walk.seen.has(key)) {
      walk.loop = true;
      return false;
    }
    if (depth > this.opts.maxDepth) throw new Refusal(Replies.tooManyHops);
    if (++walk.nodes > this.opts.maxTargets) throw new Refusal(Replies.tooManyTargets);
    walk.seen.add(key);
    return true;
  }

  private expandAddress(walk: Walk, addr: Address, rule: CompiledRule, depth: number): void {
    const text = formatAddress(addr);
    if (!this.visit(walk, 'a:' + text.toLowerCase(), depth)) return;
    if (rule.reject) throw new Refusal(rule.reject);
    const found = this.lookupAddress(rule, addr);
    if (found) {
      for (const t of found.targets) this.expandTarget(walk, t, rule, depth + 1, addr, text, found.table.caseSensitive);
      return;
    }
    if (rule.action?.config.type === 'relay') return this.relay(walk, rule, text);
    const local = this.baseLocal(addr.local).toLowerCase();
    if (local === 'postmaster') return this.expandUser(walk, 'postmaster', rule, depth + 1, text);
    if (!rule.virtual && this.mailboxes.has(local)) return this.deliver(walk, local, rule, text);
    walk.unknown ??= text;
  }

  /** `from` is the key that led here (self-reference check), `via` the last address on the way (Delivered-To). */
  private expandTarget(walk: Walk, t: Target, rule: CompiledRule, depth: number, from: Address, via: string, caseSensitive: boolean): void {
    switch (t.kind) {
      case 'error':
        throw new Refusal({ code: t.code, status: t.status, text: t.text });
      case 'user':
        return this.expandUser(walk, t.name, rule, depth, via);
      case 'address': {
        const to = parseAddress(t.address);
        const sameLocal = caseSensitive ? to.local === from.local : to.local.toLowerCase() === from.local.toLowerCase();
        if (sameLocal && to.domain === from.domain) return this.final(walk, to, rule);
        const next = this.match(walk.ctx, to, true) ?? FORWARD;
        return this.expandAddress(walk, to, next, depth);
      }
    }
  }

  /** A name (no domain): the rule's own tables, then the local aliases; a name with no entry is a mailbox. */
  private expandUser(walk: Walk, name: string, rule: CompiledRule, depth: number, via: string): void {
    if (!this.visit(walk, 'u:' + name.toLowerCase(), depth)) return;
    const fallback = this.localRule !== rule ? this.localRule?.alias : undefined;
    const table = [rule.virtual, rule.alias, fallback].find((m) => m?.get(name) !== undefined);
    if (!table) return this.deliver(walk, name, rule, via);
    const self = { local: name, domain: '' };
    for (const t of table.get(name)!) {
      if (t.kind === 'user' && t.name.toLowerCase() === name.toLowerCase()) this.deliver(walk, t.name, rule, via);
      else this.expandTarget(walk, t, rule, depth + 1, self, via, table.caseSensitive);
    }
  }

  /** An address that maps to itself: its rule delivers it (a mailbox named by its local part, or onward). */
  private final(walk: Walk, addr: Address, rule: CompiledRule): void {
    const text = formatAddress(addr);
    if (rule.action?.config.type === 'relay') return this.relay(walk, rule, text);
    const name = this.baseLocal(addr.local).toLowerCase();
    if (!isSafeMailbox(name)) throw new Refusal(Replies.badMailbox);
    this.deliver(walk, name, rule, text);
  }

  private relay(walk: Walk, rule: CompiledRule, address: string): void {
    this.addRoute(walk, {
      kind: 'relay',
      address,
      ...(rule.action?.name ? { action: rule.action.name } : {}),
      ...(address.toLowerCase() !== walk.rcpt ? { forwarded: true as const } : {}),
    });
  }

  private deliver(walk: Walk, mailbox: string, rule: CompiledRule, via: string): void {
    // A name reached under a relay rule (or a rule that rejects) is delivered by the local rule, if any.
    const r = rule.action && rule.action.config.type !== 'relay' ? rule : this.localRule;
    if (!r?.action) {
      walk.unknown ??= mailbox;
      return;
    }
    const kind = r.action.config.type === 'lmtp' ? 'lmtp' : 'local';
    this.addRoute(walk, { kind, mailbox, action: r.action.name, address: via });
  }

  private addRoute(walk: Walk, route: RecipientRoute): void {
    const key = 'r:' + routeKey(route);
    if (walk.seen.has(key)) return;
    walk.seen.add(key);
    walk.routes.push(route);
  }

  private baseLocal(local: string): string {
    return withoutSubaddress(local, this.opts.subaddressDelimiter) ?? local;
  }

  /** Virtual: full address, address without tag, local part, local part without tag, `@domain`. Alias: local part. */
  private lookupAddress(rule: CompiledRule, addr: Address): { targets: Target[]; table: MappingTable } | undefined {
    const base = withoutSubaddress(addr.local, this.opts.subaddressDelimiter);
    const v = rule.virtual;
    if (v) {
      const keys = addr.domain
        ? [`${addr.local}@${addr.domain}`, base && `${base}@${addr.domain}`, addr.local, base, `@${addr.domain}`]
        : [addr.local, base];
      for (const k of keys) {
        if (!k) continue;
        const targets = v.get(k);
        if (targets) return { targets, table: v };
      }
    }
    const a = rule.alias;
    if (a) {
      for (const k of [addr.local, base]) {
        if (!k) continue;
        const targets = a.get(k);
        if (targets) return { targets, table: a };
      }
    }
    return undefined;
  }
}
