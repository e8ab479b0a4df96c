// The checks a mail passes between its final dot and the queue commit: authentication (SPF, DKIM, DMARC,
// ARC → Authentication-Results, DMARC policy) and the content filter (rspamd). The session spools DATA
// to a scratch file when any check is on, calls checkMail() on it, and copies the file into the queue
// through the HeaderEditor the decision carries; with every check off none of this runs at all.
import type { Resolver } from 'node:dns/promises';
import type { Config, ListenerConfig, IntakeConfig } from '../config/schema.ts';
import type { Envelope } from '../queue/envelope.ts';
import type { Logger } from '../ops/log.ts';
import type { RelayMetrics } from '../ops/metrics.ts';
import { reply, Replies, type SmtpReply } from '../protocol/replies.ts';
import { authenticateMail, newResolver } from './authentication.ts';
import { filterMail } from './filter.ts';
import type { HeaderEdit } from './header-edit.ts';

export type AuthenticationSettings = IntakeConfig['authentication'];
export type FilterSettings = IntakeConfig['filter'];

export interface IntakeSettings {
  authentication: AuthenticationSettings;
  filter: FilterSettings;
}

export type IntakeDecision = { kind: 'accept'; edit: HeaderEdit } | { kind: 'refuse'; reply: SmtpReply; reason: string };

export interface IntakeMail {
  /** The spooled DATA. */
  file: string;
  size: number;
  envelope: Envelope;
  /** The listener's hostname: the authserv-id of our Authentication-Results. */
  authservId: string;
}

export interface IntakeDeps {
  resolver: Resolver;
  log: Logger;
  metrics: RelayMetrics;
}

/** The mark a DMARC `mark` action and a spam verdict put on a mail (what Sieve rules and MUAs look for). */
const SPAM_FLAG = 'X-Spam-Flag';
/** Fields the filter's verdict sets; the copies a client sent are removed so they cannot pre-empt it. */
const FILTER_FIELDS = [SPAM_FLAG, 'X-Spam-Action', 'X-Spam-Score', 'X-Kubemta-Filter'];

/** The listener's overrides over the top-level settings; undefined when no check is on (the fast path). */
export function intakeSettings(config: Config, listener: ListenerConfig): IntakeSettings | undefined {
  const authentication = { ...config.intake.authentication, ...listener.intake?.authentication };
  const filter = { ...config.intake.filter, ...listener.intake?.filter };
  if (!authentication.enabled && !(filter.enabled && filter.url)) return undefined;
  return { authentication, filter };
}

const resolvers = new WeakMap<object, Map<string, Resolver>>();

/**
 * One resolver per config and server list: authentication.dnsServers (a listener may set its own), else
 * the outbound resolver's servers, else the system's (tests point them at a DNS server on loopback).
 */
export function intakeResolver(config: Config, settings: IntakeSettings): Resolver {
  const o = config.outbound.resolver;
  const servers = settings.authentication.dnsServers ?? o?.servers;
  const key = (servers ?? []).join(',');
  let byServers = resolvers.get(config);
  if (!byServers) resolvers.set(config, (byServers = new Map()));
  let r = byServers.get(key);
  if (!r) byServers.set(key, (r = newResolver(servers, (o?.timeoutSeconds ?? 5) * 1000)));
  return r;
}

function withText(base: SmtpReply, text: string | undefined): SmtpReply {
  return text ? reply(base.code, base.status, text) : base;
}

function header(name: string, value: string): string {
  return `${name}: ${value}\r\n`;
}

/** RFC 2047 for a Subject with non-ASCII text (one encoded word per 45 bytes: lines stay short). */
function encodeSubject(s: string): string {
  if (/^[\x20-\x7e]*$/.test(s)) return s;
  const words: string[] = [];
  const bytes = Buffer.from(s, 'utf8');
  for (let i = 0; i < bytes.length; ) {
    let end = Math.min(i + 45, bytes.length);
    // never split a UTF-8 sequence: step back over continuation bytes
    while (end < bytes.length && (bytes[end] & 0xc0) === 0x80) end--;
    words.push(`=?UTF-8?B?${bytes.subarray(i, end).toString('base64')}?=`);
    i = end;
  }
  return words.join('\r\n ');
}

export async function checkMail(mail: IntakeMail, settings: IntakeSettings, deps: IntakeDeps, listener: string): Promise<IntakeDecision> {
  const { envelope } = mail;
  const log = deps.log;
  const count = (check: string, verdict: string) => deps.metrics.intakeVerdicts.inc({ listener, check, verdict });
  const edit: HeaderEdit = { add: [], remove: [] };
  const marks = new Set<string>();

  const auth = settings.authentication;
  if (auth.enabled) {
    // forged or stale results with our id go whether or not this mail is checked (a logged-in user too)
    edit.authservId = mail.authservId;
    // where a DMARC verdict may set the flag, a sender's own (X-Spam-Flag: NO) must not stand in for it
    if (auth.dmarcReject === 'mark' || auth.dmarcQuarantine === 'mark') edit.remove.push(SPAM_FLAG);
    if (envelope.user) {
      count('authentication', 'skipped-authenticated');
    } else {
      const started = process.hrtime.bigint();
      const result = await authenticateMail({
        file: mail.file,
        ip: envelope.client.address,
        helo: envelope.client.helo,
        sender: envelope.from,
        authservId: mail.authservId,
        resolver: deps.resolver,
        timeoutMs: auth.timeoutSeconds * 1000,
      });
      edit.add.push(result.header);
      const failed = result.dmarc === 'fail';
      const action = !failed ? 'none' : result.policy === 'reject' ? auth.dmarcReject : result.policy === 'quarantine' ? auth.dmarcQuarantine : 'none';
      const verdict = result.failure ? 'unevaluated' : action === 'none' ? `results-${result.dmarc}` : action === 'mark' ? 'marked' : 'rejected';
      count('dmarc', verdict);
      log.info(
        {
          check: 'dmarc',
          verdict,
          spf: result.spf,
          dkim: result.dkim,
          arc: result.arc,
          dmarc: result.dmarc,
          policy: result.policy,
          domain: result.domain,
          failure: result.failure,
          ms: Number(process.hrtime.bigint() - started) / 1e6,
        },
        'intake authentication',
      );
      if (action === 'reject') {
        return { kind: 'refuse', reply: result.policy === 'reject' ? Replies.dmarcReject : Replies.dmarcQuarantineReject, reason: 'dmarc' };
      }
      if (action === 'mark') marks.add(SPAM_FLAG);
    }
  }

  const filter = settings.filter;
  if (filter.enabled && filter.url) {
    edit.remove.push(...FILTER_FIELDS);
    if (mail.size > filter.maxBytes) {
      count('filter', 'skipped-size');
      log.info({ check: 'filter', verdict: 'skipped-size', size: mail.size }, 'intake filter');
    } else {
      const started = process.hrtime.bigint();
      const v = await filterMail({
        url: filter.url,
        file: mail.file,
        size: mail.size,
        ip: envelope.client.address,
        helo: envelope.client.helo,
        from: envelope.from,
        rcpts: envelope.recipients.map((r) => r.rcpt),
        user: envelope.user,
        queueId: envelope.id,
        timeoutMs: filter.timeoutSeconds * 1000,
      });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (v.kind === 'failed') {
        const verdict = filter.onFailure === 'tempfail' ? 'unavailable-tempfail' : 'unavailable-accepted';
        count('filter', verdict);
        log.warn({ check: 'filter', verdict, cause: v.cause, ms }, 'intake filter did not answer');
        if (filter.onFailure === 'tempfail') return { kind: 'refuse', reply: Replies.filterUnavailable, reason: 'filter-unavailable' };
        edit.add.push(header('X-Kubemta-Filter', `unavailable (${v.cause.replace(/[\r\n()]/g, ' ').slice(0, 80)})`));
      } else {
        count('filter', v.action.replace(/ /g, '-'));
        log.info({ check: 'filter', verdict: v.action, score: v.score, ms }, 'intake filter');
        if (v.kind === 'reject') return { kind: 'refuse', reply: withText(Replies.filterReject, v.message), reason: 'filter-reject' };
        if (v.kind === 'tempfail') return { kind: 'refuse', reply: withText(Replies.filterTempfail, v.message), reason: 'filter-tempfail' };
        edit.add.push(header('X-Spam-Action', v.action), header('X-Spam-Score', v.score.toFixed(2)));
        if (v.action !== 'no action') marks.add(SPAM_FLAG);
        if (v.subject !== undefined) edit.subject = encodeSubject(v.subject);
        for (const [name, value] of v.headers.add) if (!FILTER_FIELDS.some((f) => f.toLowerCase() === name.toLowerCase())) edit.add.push(header(name, value));
        edit.remove.push(...v.headers.remove);
      }
    }
  }
  if (marks.has(SPAM_FLAG)) edit.add.push(header(SPAM_FLAG, 'YES'));
  return { kind: 'accept', edit };
}
