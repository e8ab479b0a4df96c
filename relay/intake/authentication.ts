// SPF, DKIM, DMARC (with the organizational domain) and ARC of one received mail, by mailauth, read from
// the spooled file (mailauth streams it: the body is hashed as it passes, never held whole). The result
// is one Authentication-Results field (RFC 8601) with our authserv-id, and the DMARC verdict for policy.
import { createReadStream } from 'node:fs';
import { Resolver } from 'node:dns/promises';
import type { AuthenticateResult } from 'mailauth';

export interface AuthenticationInput {
  /** The message as received (the spooled DATA, without our Received:). */
  file: string;
  /** The client's address (an IPv4-mapped IPv6 address is given as IPv4). */
  ip: string;
  helo: string;
  /** MAIL FROM; '' for the null sender (SPF then checks postmaster@HELO). */
  sender: string;
  authservId: string;
  resolver: Resolver;
  timeoutMs: number;
}

export interface AuthenticationOutcome {
  /** The complete Authentication-Results field, ending in CRLF. */
  header: string;
  /** DMARC's result ('pass', 'fail', 'none', 'temperror', …); 'none' when it was not evaluated. */
  dmarc: string;
  /** The policy that applies to this mail when DMARC failed ('none', 'quarantine', 'reject'). */
  policy: string;
  /** The DMARC policy domain, for the log. */
  domain?: string;
  spf: string;
  dkim: string[];
  arc: string;
  /** Why no verdict: the checks timed out or failed. */
  failure?: string;
}

/** A DNS lookup function for mailauth over one resolver (the relay's, or a test's on loopback). */
export function dnsLookup(resolver: Resolver) {
  return (name: string, rrtype: string) => resolver.resolve(name, rrtype) as Promise<string[][] | string[]>;
}

export function newResolver(servers: string[] | undefined, timeoutMs: number): Resolver {
  const r = new Resolver({ timeout: timeoutMs, tries: 2 });
  if (servers?.length) r.setServers(servers);
  return r;
}

function clientIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

/** The Authentication-Results field of mailauth's headers (it also writes Received-SPF, which we leave out). */
function authResultsField(headers: string): string | undefined {
  return headers.split(/\r\n(?![ \t])/).find((f) => /^Authentication-Results:/i.test(f));
}

function outcomeOf(r: AuthenticateResult, authservId: string): AuthenticationOutcome {
  const field = authResultsField(r.headers) ?? `Authentication-Results: ${authservId}; none`;
  const dmarc = r.dmarc ? r.dmarc : undefined;
  return {
    header: field.replace(/\r\n$/, '') + '\r\n',
    dmarc: dmarc?.status?.result ?? 'none',
    policy: dmarc?.policy ?? 'none',
    domain: dmarc?.domain,
    spf: r.spf ? r.spf.status.result : 'none',
    dkim: (r.dkim.results ?? []).map((d) => d.status.result),
    arc: r.arc ? r.arc.status.result : 'none',
  };
}

function unevaluated(authservId: string, failure: string): AuthenticationOutcome {
  // RFC 8601 2.2: "none" says no method was applied; the comment says why
  return { header: `Authentication-Results: ${authservId}; none (${failure})\r\n`, dmarc: 'none', policy: 'none', spf: 'none', dkim: [], arc: 'none', failure };
}

export async function authenticateMail(input: AuthenticationInput): Promise<AuthenticationOutcome> {
  // loaded on first use: a relay that checks nothing does not carry mailauth's tens of MB
  const { authenticate } = await import('mailauth');
  const source = createReadStream(input.file, { highWaterMark: 64 * 1024 });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), input.timeoutMs);
  });
  try {
    const result = await Promise.race([
      authenticate(source, {
        ip: clientIp(input.ip),
        helo: input.helo || undefined,
        sender: input.sender || undefined,
        mta: input.authservId,
        resolver: dnsLookup(input.resolver),
        disableBimi: true,
      }),
      timeout,
    ]);
    if (result === 'timeout') return unevaluated(input.authservId, 'timeout');
    return outcomeOf(result, input.authservId);
  } catch (err) {
    return { ...unevaluated(input.authservId, 'error'), failure: `error: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
    source.destroy();
  }
}
