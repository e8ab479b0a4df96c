// A virtual (or, for a primary domain, an aliases) table → one VirtualUser per entry and the MailDomain's
// catch-all. `user@domain` keys become addresses, bare `user` keys local parts (every domain of the
// MailDomain), `@domain` and `@` catch-alls. Targets that are commands, files, includes or error codes are
// reported and left out.
import { Target } from '../api/fields.ts';
import { domainMatches } from '../render/checks.ts';
import type { Ctx } from './context.ts';
import type { Ref } from './model.ts';
import { targets, type TableData } from './makemap-tables.ts';

/** A mailbox or forward target, as the VirtualUser schema takes it. */
const TARGET = new RegExp(Target().pattern!);

/** Keeps the targets kubemta can deliver to; reports the others. */
export function deliverableTargets(ctx: Ctx, data: TableData, key: string, value: string, line: number): string[] {
  const out: string[] = [];
  for (const t of targets(value)) {
    if (TARGET.test(t) && !t.startsWith('/') && !t.startsWith('|')) out.push(t.replace(/^"|"$/g, ''));
    else {
      const why = t.startsWith('|') ? 'piping to a command' : t.startsWith('/') ? 'appending to a file' : t.startsWith(':include:') ? 'an :include: file' : t.startsWith('error:') ? 'an error reply' : 'this target';
      ctx.findings.dropped({ line }, `${key}: ${t}`, `${why} has no kubemta equivalent`, data.file ?? ctx.configName);
    }
  }
  return out;
}

export interface UsersResult {
  catchAll?: string;
}

/** Emits the VirtualUsers of MailDomain `domain` (with `patterns`) from a virtual table. */
export function usersToCrs(ctx: Ctx, ref: Ref, domain: string, patterns: string[], ruleLine: number): UsersResult {
  const data = ctx.tables.read(ref);
  if (!data) {
    ctx.findings.dropped(ref, `virtual <${ref.kind === 'table' ? ref.name : ''}>`, `a ${ctx.tables.backend(ref)} table is not read; MailDomain "${domain}" gets no users`);
    return {};
  }
  const exact = patterns.filter((p) => !p.includes('*')).map((p) => p.toLowerCase());
  const seen = new Set<string>();
  const catchAlls: { domains: string[]; targets: string[]; line: number }[] = [];
  for (const e of data.entries) {
    const where = { line: e.line };
    const lower = e.key.toLowerCase();
    if (seen.has(lower)) {
      ctx.findings.dropped(where, e.key, 'a second entry for the same key (the first one is kept)', data.file);
      continue;
    }
    seen.add(lower);
    const to = deliverableTargets(ctx, data, e.key, e.value, e.line);
    if (!to.length) {
      if (e.value === '') ctx.findings.dropped(where, e.key, 'no target', data.file);
      continue;
    }
    if (e.key.startsWith('@')) {
      const d = lower.slice(1);
      if (d && !exact.includes(d)) {
        ctx.findings.dropped(where, e.key, `catch-all for a domain that is not one of MailDomain "${domain}"'s exact domains`, data.file);
        continue;
      }
      catchAlls.push({ domains: d ? [d] : exact, targets: to, line: e.line });
      continue;
    }
    const at = e.key.lastIndexOf('@');
    if (at > 0 && !patterns.some((p) => domainMatches(p, e.key.slice(at + 1)))) {
      ctx.findings.dropped(where, e.key, `not in MailDomain "${domain}"'s domains (${patterns.join(', ')})`, data.file);
      continue;
    }
    const local = at > 0 ? e.key.slice(0, at) : e.key;
    const mailbox = to.find((t) => !t.includes('@'));
    const forwardTo = to.filter((t) => t !== mailbox);
    const spec = {
      mailDomainRef: { name: domain },
      ...(at > 0 ? { address: e.key } : { localPart: e.key }),
      ...(mailbox ? { mailbox } : {}),
      ...(forwardTo.length ? { forwardTo } : {}),
    };
    ctx.emit('VirtualUser', ctx.name('VirtualUser', `${domain}-${local}`), { spec }, { line: ruleLine, text: `${data.file ?? 'inline'}:${e.line} ${e.key}` });
  }
  return { catchAll: catchAll(ctx, data, domain, exact, catchAlls) };
}

/** One catchAll per MailDomain, for all its exact domains: report what that cannot say. */
function catchAll(ctx: Ctx, data: TableData, domain: string, exact: string[], found: { domains: string[]; targets: string[]; line: number }[]): string | undefined {
  if (!found.length) return undefined;
  const first = found[0];
  const covered = new Set(found.flatMap((f) => f.domains));
  if (first.targets.length > 1) ctx.findings.changed(first, `catch-all ${first.targets.join(', ')}`, `a MailDomain's catchAll is one target; ${first.targets[0]} is kept`, data.file);
  if (found.some((f) => f.targets[0] !== first.targets[0])) ctx.findings.changed(first, 'catch-alls', `MailDomain "${domain}" has one catchAll for all its domains; ${first.targets[0]} is kept`, data.file);
  else if (exact.some((d) => !covered.has(d))) ctx.findings.changed(first, 'catch-all', `MailDomain "${domain}"'s catchAll applies to all its exact domains (${exact.join(', ')})`, data.file);
  return first.targets[0];
}
