// What one mail may be to one next hop, decided once the hop's EHLO is known: SMTPUTF8 only to a hop
// that announces it (RFC 6531 §3.2: else 5.6.7), 8-bit bodies converted for a hop without 8BITMIME and
// overlong lines re-encoded for every hop (mime/downgrade.ts; 5.6.3 where no conversion is allowed).
// A converted mail is DKIM-signed as converted, so the signature covers what is sent; a mail that needs
// nothing goes as it is, with the one signature made for all its hops. What the content holds was found
// as the queue wrote it (protocol/content-facts.ts); only a mail recovered after a restart is scanned here.
// The MIME parser (~12 MB) is loaded the first time a message needs converting.
import { Readable } from 'node:stream';
import type { QueuedMail } from '../../queue/fs.ts';
import { scanContent, type ContentFacts } from '../../protocol/content-facts.ts';
import type { Analysis, HopCapabilities } from '../mime/downgrade.ts';
import type { SmtpClient } from './client.ts';

export type HopContent =
  | { kind: 'send'; content: () => Readable; signature: string; smtputf8: boolean; converted: boolean }
  | { kind: 'fail'; detail: string };

const nonAscii = (s: string) => /[^\x00-\x7f]/.test(s);

/** A message shorter than this cannot hold a line over 998 octets. */
const SHORTEST_LONG = 1000;

/** A message up to this size is kept in memory by the scan and sent from there: one read of the file, not two. */
const KEEP_BYTES = 256 * 1024;

export class HopContentPlanner {
  private readonly mail: QueuedMail;
  private content: () => Readable;
  private readonly signature: string;
  private readonly sign: (content: () => Readable) => Promise<string>;
  private facts: Promise<ContentFacts> | undefined;
  /** Per capability set (with or without 8BITMIME): the analysis and the signature of the conversion. */
  private readonly converted = new Map<string, { analysis: Promise<Analysis>; signature?: Promise<string> }>();

  /** signature: the one made over the stored content; sign: signs a converted one. */
  constructor(mail: QueuedMail, content: () => Readable, signature: string, sign: (content: () => Readable) => Promise<string>) {
    this.mail = mail;
    this.content = content;
    this.signature = signature;
    this.sign = sign;
  }

  /** Known from the queue, or scanned once per delivery whatever the number of hops (a small message is then kept for sending). */
  private scan(): Promise<ContentFacts> {
    if (this.mail.content) return Promise.resolve(this.mail.content);
    this.facts ??= (async () => {
      const kept: Buffer[] = [];
      let size = 0;
      async function* keep(src: Readable): AsyncGenerator<Buffer> {
        for await (const chunk of src as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size <= KEEP_BYTES) kept.push(chunk);
          yield chunk;
        }
      }
      const facts = await scanContent(keep(this.content()));
      if (size <= KEEP_BYTES) this.content = () => Readable.from(kept, { objectMode: false });
      return facts;
    })();
    return this.facts;
  }

  async forHop(client: SmtpClient, from: string, to: string[]): Promise<HopContent> {
    const env = this.mail.envelope;
    const utf8Envelope = nonAscii(from) || to.some(nonAscii);
    // a short 7-bit mail to an 8BITMIME hop: nothing to find, no read
    const mayNeedWork = !!this.mail.content || this.mail.size >= SHORTEST_LONG || !client.supports('8BITMIME') || env.smtputf8;
    const facts = mayNeedWork ? await this.scan() : undefined;
    // the client asked for SMTPUTF8 and the header uses it, or an address is UTF-8 (Postfix: the same test)
    const smtputf8 = utf8Envelope || (!!env.smtputf8 && !!facts?.eightBitHeader);
    if (smtputf8 && !client.supports('SMTPUTF8')) {
      return { kind: 'fail', detail: `5.6.7 SMTPUTF8 is required, but was not offered by host ${client.name}` };
    }
    const caps: HopCapabilities = { eightBitMime: client.supports('8BITMIME') };
    const work = facts && (facts.longLines || (!caps.eightBitMime && facts.eightBitBody));
    if (!work) return { kind: 'send', content: this.content, signature: this.signature, smtputf8, converted: false };
    const key = String(caps.eightBitMime);
    const { analyse, convert } = await import('../mime/downgrade.ts');
    let entry = this.converted.get(key);
    if (!entry) {
      entry = { analysis: analyse(this.content(), caps) };
      this.converted.set(key, entry);
    }
    const plan = await entry.analysis;
    if (plan.kind === 'impossible') {
      const why = caps.eightBitMime ? '' : ` (${client.name} does not announce 8BITMIME)`;
      return { kind: 'fail', detail: `5.6.3 Conversion required and prohibited: ${plan.reason}${why}` };
    }
    const content = () => convert(this.content(), plan, caps);
    entry.signature ??= this.sign(content);
    return { kind: 'send', content, signature: await entry.signature, smtputf8, converted: true };
  }
}
