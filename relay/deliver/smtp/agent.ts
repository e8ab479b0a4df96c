// The onward SMTP delivery agent (route kind `relay`). Recipients of one mail are grouped by destination
// (domain or smarthost); each destination gets one transaction with all its recipients, on a pooled
// connection to its first reachable MX host (preference order) or smarthost.
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Config, OutboundConfig } from '../../config/schema.ts';
import type { QueuedMail } from '../../queue/fs.ts';
import type { Logger } from '../../ops/log.ts';
import type { DeliveryAgent, DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { fitsFamily, literalFamilyProblem } from '../../config/smarthost.ts';
import { DkimSigner } from '../dkim.ts';
import { SrsKeys } from './srs-keys.ts';
import type { Srs } from '../../lookup/srs.ts';
import { addressLiteral, MxResolver, type NextHop } from '../mx.ts';
import { SmtpClient, type SmtpError, type TlsPolicyName } from './client.ts';
import { destinationOf, type Destination } from './destination.ts';
import { HopContentPlanner } from './hop-content.ts';
import { MtaStsCache } from './mta-sts.ts';
import { DaneLookup, verifyDane, type DaneHost, type DaneVerdict } from './dane.ts';
import { DnssecResolver } from '../dnssec.ts';
import { deferAll, failAll, hasReply, outcomesOfError, outcomesOfSuccess, type RcptIndex } from './outcome.ts';
import { DestinationConnections, Unreachable } from './connections.ts';
import { greylisted, Paused, postponed, throttled } from './waits.ts';
import { remoteDetail } from '../diagnostic.ts';
import { stricter, tlsPolicyFor } from './tls-policy.ts';

interface Plan {
  hops: (NextHop & { dane?: DaneHost })[];
  tls: TlsPolicyName;
}

/** What the agent needs of its surroundings: the relay, or the delivery thread's stand-in for it. */
export interface AgentHost {
  snapshot: { config: Config };
  log: Logger;
  metrics?: { dane: { inc(labels: { result: DaneCount }): void } };
}

export type DaneCount = 'verified' | 'failed' | 'unusable' | 'ignored';

/** An address that refused a connection is tried last for this long (Postfix: a dead-host cache). */
const DEAD_MS = 60_000;

export class SmtpAgent implements DeliveryAgent {
  readonly name = 'smtp';
  private readonly relay: AgentHost;
  private readonly pool: DestinationConnections<SmtpClient>;
  private readonly dkim = new DkimSigner();
  private readonly srs = new SrsKeys();
  private readonly dead = new Map<string, number>();
  private resolverKey = '';
  private mx!: MxResolver;
  private sts!: MtaStsCache;
  private dane!: DaneLookup;
  /** The TLSA record each DANE-verified connection matched, for the per-delivery log line. */
  private readonly daneVerified = new WeakMap<SmtpClient, string>();

  constructor(relay: AgentHost) {
    this.relay = relay;
    this.pool = new DestinationConnections(() => this.outbound);
  }

  private get config(): Config {
    return this.relay.snapshot.config;
  }

  private get outbound(): OutboundConfig {
    return this.config.outbound;
  }

  /** The resolver follows the config: rebuilt when a reload changes servers or family. */
  private resolver(): MxResolver {
    const o = this.outbound;
    const key = JSON.stringify([o.resolver, o.family]);
    if (key !== this.resolverKey) {
      this.resolverKey = key;
      this.mx = new MxResolver({ servers: o.resolver?.servers, timeoutMs: (o.resolver?.timeoutSeconds ?? 5) * 1000, family: o.family });
      this.sts = new MtaStsCache(this.mx.resolver);
      this.dane = new DaneLookup(new DnssecResolver({ servers: o.resolver?.servers, timeoutMs: (o.resolver?.timeoutSeconds ?? 5) * 1000 }), o.family);
    }
    return this.mx;
  }

  async deliver(mail: QueuedMail, indexes: number[], content: () => Readable): Promise<DeliveryOutcome[]> {
    const log = this.relay.log.child({ qid: mail.envelope.id, agent: 'smtp' });
    const groups = new Map<string, { dest: Destination; from: string; rcpts: RcptIndex }>();
    const outcomes: DeliveryOutcome[] = [];
    let srs: Srs | undefined;
    try {
      srs = await this.srs.get(this.outbound.srs);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'SRS keys unusable; deferring forwarded copies rather than sending them unrewritten');
    }
    for (const index of indexes) {
      const route = mail.envelope.recipients[index].route;
      if (route.kind !== 'relay') continue;
      const dest = destinationOf(route, this.config);
      if ('error' in dest) {
        outcomes.push({ index, result: 'deferred', detail: `4.3.5 ${dest.error}` });
        continue;
      }
      // a forwarded copy leaves with an SRS sender, in a transaction of its own
      const rewrite = route.forwarded && this.outbound.srs !== undefined;
      if (rewrite && !srs) {
        outcomes.push({ index, result: 'deferred', detail: '4.3.5 SRS keys unusable (outbound.srs.keyFile)' });
        continue;
      }
      const from = rewrite && srs ? srs.forward(mail.envelope.from) : mail.envelope.from;
      const key = `${dest.key} from=${from}`;
      const g = groups.get(key) ?? { dest, from, rcpts: new Map() };
      g.rcpts.set(route.address, [...(g.rcpts.get(route.address) ?? []), index]);
      groups.set(key, g);
    }
    // a paused destination is not tried: nothing to sign or look up for it
    for (const [key, g] of groups) {
      const pause = this.pool.paused(g.dest.key);
      if (!pause) continue;
      outcomes.push(...postponed(g.rcpts, g.dest, pause));
      groups.delete(key);
    }
    if (!groups.size) return outcomes;
    let signature = '';
    try {
      signature = await this.dkim.sign(this.outbound.dkim, mail.envelope.from, content);
    } catch (err) {
      log.error({ err: (err as Error).message }, 'DKIM signing failed; deferring rather than sending unsigned');
      return [...outcomes, ...[...groups.values()].flatMap((g) => deferAll(g.rcpts, `4.3.0 ${(err as Error).message}`))];
    }
    const planner = new HopContentPlanner(mail, content, signature, (converted) => this.dkim.sign(this.outbound.dkim, mail.envelope.from, converted));
    const results = await Promise.all([...groups.values()].map((g) => this.deliverTo(mail, g.dest, g.from, g.rcpts, planner, log)));
    return [...outcomes, ...results.flat()];
  }

  private async plan(dest: Destination, log: Logger): Promise<Plan | DeliveryOutcome[] | ((r: RcptIndex) => DeliveryOutcome[])> {
    const mx = this.resolver();
    if (dest.kind === 'smarthost') {
      const wrongFamily = literalFamilyProblem(dest.host, this.outbound.family);
      if (wrongFamily) return (r) => deferAll(r, `4.4.3 smarthost ${dest.host}: ${wrongFamily}`);
      const ways = this.outbound.hostLookup;
      const addrs = await mx.hostAddresses(dest.host, ways);
      if (addrs.kind !== 'ok') return (r) => deferAll(r, `4.4.3 smarthost ${dest.host}: ${addrs.kind === 'tempfail' ? addrs.cause : `no ${this.outbound.family === 'any' ? '' : `${this.outbound.family} `}address (outbound.hostLookup: ${ways.join(', ')})`}`);
      return { hops: [{ host: dest.host, preference: 0, addresses: addrs.value }], tls: tlsPolicyFor(dest.host, this.outbound) };
    }
    const found = await mx.resolveDomain(dest.domain);
    if (found.kind === 'notfound') return (r) => failAll(r, `${found.status} ${found.reason}`);
    if (found.kind === 'tempfail') return (r) => deferAll(r, `4.4.3 ${found.cause}`);
    let tls = tlsPolicyFor(dest.domain, this.outbound);
    let hops: Plan['hops'] = found.hops;
    if (this.outbound.mtaSts) {
      const decision = await this.sts.decide(dest.domain, hops);
      if (decision.source.error) log.warn({ domain: dest.domain, mtaSts: decision.source.status, id: decision.source.id, mode: decision.kind, err: decision.source.error }, 'MTA-STS: policy fetch failed; applying the cached policy, if any');
      if (decision.kind === 'nomatch') return (r) => deferAll(r, `4.7.5 MTA-STS policy of ${dest.domain} lists none of its MX hosts (${decision.mx.join(', ')})`);
      if (decision.kind === 'testing' && decision.mismatched.length) log.warn({ domain: dest.domain, mismatched: decision.mismatched }, 'MTA-STS (testing): MX hosts not in the policy');
      if (decision.kind === 'enforce') {
        hops = decision.hops;
        tls = stricter(tls, 'verify');
      }
    }
    if (this.outbound.dane && !addressLiteral(dest.domain)) {
      const d = await this.dane.forDomain(dest.domain, hops);
      if (d.kind === 'tempfail') return (r) => deferAll(r, `4.4.3 ${d.cause}`);
      for (const h of d.hops) {
        if (h.dane.kind === 'none' && h.dane.ignored) this.countDane('ignored', log, { mta: h.host, dane: 'ignored', records: h.dane.ignored }, 'dane: TLSA records without DNSSEC authentication (AD=0) ignored');
        if (h.dane.kind === 'tempfail') this.countDane('unusable', log, { mta: h.host, dane: 'unusable', err: h.dane.cause }, 'dane: TLSA lookup failed; host not used (RFC 7672 2.2)');
      }
      // a host whose TLSA lookup failed may be one that requires DANE: never used without it
      hops = d.hops.filter((h) => h.dane.kind !== 'tempfail');
      if (!hops.length) return (r) => deferAll(r, `4.4.3 no MX host of ${dest.domain} is usable: TLSA lookups failed (${d.hops.map((h) => h.host).join(', ')})`);
    }
    return { hops, tls };
  }

  private async deliverTo(mail: QueuedMail, dest: Destination, from: string, rcpts: RcptIndex, planner: HopContentPlanner, log: Logger): Promise<DeliveryOutcome[]> {
    const plan = await this.plan(dest, log);
    if (typeof plan === 'function') return plan(rcpts);
    if (Array.isArray(plan)) return plan;
    const to = [...rcpts.keys()];
    const max = this.outbound.maxMessagesPerConnection;
    // connections are shared only under the same TLS policy: a plaintext one never serves a `required` mail
    // nor a connection opened without DANE a mail whose plan has DANE hosts (a reload may have turned it on)
    const variant = `tls=${plan.tls}${plan.hops.some((h) => h.dane && h.dane.kind !== 'none') ? ' dane' : ''}`;
    // a reused connection may have been closed by the server since: one more try on a fresh one
    for (let attempt = 0; ; attempt++) {
      let client: SmtpClient;
      try {
        client = await this.pool.acquire(dest.key, () => this.connect(dest, plan, log), variant, log);
      } catch (err) {
        if (err instanceof Paused) return postponed(rcpts, dest, err.pause);
        const outcomes = deferAll(rcpts, `${(err as { status?: string }).status ?? '4.4.1'} ${(err as Error).message}`);
        const pause = err instanceof Unreachable && this.pool.paused(dest.key);
        return pause ? throttled(outcomes, dest, pause) : outcomes;
      }
      const reused = client.messages > 0;
      // what this hop may receive: known only now, from its EHLO
      let hop;
      try {
        hop = await planner.forHop(client, from, to);
      } catch (err) {
        this.pool.release(dest.key, client, client.alive, variant);
        log.error({ err: (err as Error).message }, 'preparing the content failed; deferring');
        return deferAll(rcpts, `4.3.0 ${(err as Error).message}`);
      }
      if (hop.kind === 'fail') {
        this.pool.release(dest.key, client, client.alive, variant);
        log.info({ mta: client.name, detail: hop.detail }, 'this next hop cannot take the mail');
        return failAll(rcpts, hop.detail);
      }
      if (hop.converted) log.info({ mta: client.name, eightBitMime: client.supports('8BITMIME') }, 'content converted for the next hop');
      const signature = hop.signature;
      const envelope = { from, to, size: mail.size + signature.length, use8BitMime: mail.envelope.body === '8bitmime', smtputf8: hop.smtputf8 };
      const message = signature ? Readable.from(prepend(signature, hop.content())) : hop.content();
      try {
        const info = await client.send(envelope, message);
        this.pool.release(dest.key, client, client.messages < max, variant);
        this.pool.wentWell(dest.key);
        log.debug({ mta: client.name, tls: client.secure, rcpts: envelope.to.length }, 'transaction done');
        const tlsa = this.daneVerified.get(client);
        if (tlsa) this.countDane('verified', log, { mta: client.name, dane: 'verified', tlsa, rcpts: envelope.to.length }, 'dane: verified');
        return this.greylisted(outcomesOfSuccess(rcpts, info, client.name));
      } catch (e) {
        const err = e as SmtpError;
        if (!hasReply(err)) {
          this.pool.release(dest.key, client, false, variant);
          if (reused && attempt === 0) continue;
          return outcomesOfError(rcpts, err, client.name);
        }
        const outcomes = outcomesOfError(rcpts, err, client.name);
        if (err.responseCode === 421) {
          // the server is closing, usually because it takes no more from us now: ask less of it
          const reply = (err.response ?? err.message).replace(/\r?\n/g, ' ').trim();
          const pause = this.pool.throttle(dest.key, { after: reply, detail: remoteDetail(client.name, reply) }, log);
          this.pool.release(dest.key, client, false, variant);
          return throttled(outcomes, dest, pause);
        }
        this.pool.release(dest.key, client, client.messages < max && (await client.reset()), variant);
        this.pool.wentWell(dest.key);
        return this.greylisted(outcomes);
      }
    }
  }

  /** 450/451 replies (greylisting) wait at least outbound.retry.greylistSeconds. */
  private greylisted(outcomes: DeliveryOutcome[]): DeliveryOutcome[] {
    return greylisted(outcomes, Date.now() + this.outbound.retry.greylistSeconds * 1000);
  }

  /** Opens a session to the first host (preference order) and address that takes one. */
  private async connect(dest: Destination, plan: Plan, log: Logger): Promise<SmtpClient> {
    const o = this.outbound;
    const auth = dest.kind === 'smarthost' ? await this.credentials(dest.host, dest.port) : undefined;
    const errors: string[] = [];
    let last = 'no address to connect to';
    let daneFailed = false;
    const now = Date.now();
    for (const hop of plan.hops) {
      const dane = hop.dane;
      let verdict: DaneVerdict | undefined;
      // never over another family than outbound.family, whatever a lookup returned
      const addresses = hop.addresses.filter((a) => fitsFamily(a, o.family)).sort((a, b) => Number((this.dead.get(a) ?? 0) > now) - Number((this.dead.get(b) ?? 0) > now));
      for (const address of addresses) {
        try {
          const client = await SmtpClient.open({
            host: hop.host,
            address,
            port: dest.kind === 'smarthost' ? dest.port : o.port,
            implicitTls: dest.kind === 'smarthost' && dest.implicitTls,
            // DANE hosts: TLS or nothing, judged by their TLSA records instead of the roots (RFC 7672 3)
            tls: dane?.kind === 'dane' ? 'required' : dane?.kind === 'encrypt' ? stricter(plan.tls, 'required') : plan.tls,
            peerCheck:
              dane?.kind === 'dane'
                ? (socket) => {
                    verdict = verifyDane(socket.getPeerCertificate(true), dane.records, dest.kind === 'mx' ? [hop.host, dest.domain] : [hop.host]);
                    return verdict.ok ? undefined : `DANE: ${verdict.reason}`;
                  }
                : undefined,
            heloName: o.heloName ?? this.config.hostname ?? 'localhost',
            ca: o.caFile ? await readFile(o.caFile, 'utf8') : undefined,
            auth,
            connectTimeoutMs: o.connectTimeoutSeconds * 1000,
            greetingTimeoutMs: o.greetingTimeoutSeconds * 1000,
            commandTimeoutMs: o.commandTimeoutSeconds * 1000,
          });
          this.dead.delete(address);
          if (verdict?.ok) this.daneVerified.set(client, verdict.record);
          return client;
        } catch (err) {
          const e = err as SmtpError;
          if (e.code === 'ECONNECTION' || e.code === 'ETIMEDOUT' || e.code === 'ESOCKET') this.dead.set(address, Date.now() + DEAD_MS);
          last = e.response?.replace(/\r?\n/g, ' ').trim() || e.message;
          errors.push(`${hop.host}[${address}]: ${e.message}`);
          // a DANE host that fails TLS (no STARTTLS, a failed handshake) or its TLSA check refused security
          if (e.code === 'EPEER' || (dane?.kind === 'dane' && e.code === 'ETLS')) {
            daneFailed = true;
            this.countDane('failed', log, { mta: `${hop.host}[${address}]`, dane: 'failed', err: e.message }, 'dane: failed (no TLS, or a certificate no TLSA record matches); not delivering to this host');
          }
          log.info({ mta: `${hop.host}[${address}]`, tls: plan.tls, err: e.message }, 'outbound connection failed; trying the next host');
        }
      }
    }
    const message = `no host of ${dest.kind === 'mx' ? dest.domain : dest.host} took a connection: ${errors.join('; ')}`;
    // a certificate that fails DANE is a security refusal (4.7.5), not a host that is down
    const status = daneFailed ? '4.7.5' : '4.4.1';
    throw Object.assign(new Unreachable(message, { after: last, detail: `${status} ${message}` }), { status });
  }

  private countDane(result: DaneCount, log: Logger, fields: Record<string, unknown>, msg: string): void {
    this.relay.metrics?.dane.inc({ result });
    if (result === 'verified') log.info(fields, msg);
    else log.warn(fields, msg);
  }

  private async credentials(host: string, port: number): Promise<{ user: string; pass: string } | undefined> {
    const entry = this.outbound.smarthostAuth.find((a) => a.host === `${host}:${port}`) ?? this.outbound.smarthostAuth.find((a) => a.host === host);
    if (!entry) return undefined;
    const pass = (await readFile(entry.passwordFile, 'utf8')).replace(/\r?\n$/, '');
    return { user: entry.username, pass };
  }

  resume(): void {
    this.pool.resume();
  }

  async close(): Promise<void> {
    this.pool.close();
  }
}

async function* prepend(head: string, rest: Readable): AsyncGenerator<Buffer> {
  yield Buffer.from(head);
  for await (const chunk of rest) yield chunk as Buffer;
}
