// DKIM signing (RFC 6376, RFC 8463) with mailauth: every key configured for the mail's From: domain
// (else the envelope sender's) adds a signature, rsa-sha256 or ed25519-sha256 by the key's type. Keys
// are read from files and cached until the file changes (a rotated Secret is picked up without restart).
// mailauth is loaded on the first signature only: a relay without DKIM keys does not carry its tens of MB.
import { createPrivateKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { OutboundConfig } from '../config/schema.ts';
import { domainOf } from './smtp/destination.ts';
import { fromHeaderDomain, readHeaderBlock } from './headers.ts';

interface LoadedKey {
  mtimeMs: number;
  pem: string;
  algorithm: 'rsa-sha256' | 'ed25519-sha256';
}

export function algorithmOf(pem: string): LoadedKey['algorithm'] {
  const type = createPrivateKey(pem).asymmetricKeyType;
  if (type === 'rsa') return 'rsa-sha256';
  if (type === 'ed25519') return 'ed25519-sha256';
  throw new Error(`DKIM keys must be RSA or Ed25519, not ${type}`);
}

export class DkimSigner {
  private readonly keys = new Map<string, LoadedKey>();

  private async key(file: string): Promise<LoadedKey> {
    const { mtimeMs } = await stat(file);
    const cached = this.keys.get(file);
    if (cached && cached.mtimeMs === mtimeMs) return cached;
    const pem = await readFile(file, 'utf8');
    const loaded = { mtimeMs, pem, algorithm: algorithmOf(pem) };
    this.keys.set(file, loaded);
    return loaded;
  }

  /**
   * The DKIM-Signature header lines to put in front of the message ('' when no key applies).
   * Throws when a configured key cannot be used: the caller defers rather than send unsigned mail.
   */
  async sign(cfg: OutboundConfig['dkim'], envelopeFrom: string, content: () => Readable): Promise<string> {
    if (!cfg.length) return '';
    const headerDomain = fromHeaderDomain((await readHeaderBlock(content())).toString('latin1'));
    const candidates = [headerDomain, envelopeFrom ? domainOf(envelopeFrom) : undefined].filter((d): d is string => !!d);
    const domain = candidates.find((d) => cfg.some((k) => k.domain.toLowerCase() === d));
    if (!domain) return '';
    const entries = cfg.filter((k) => k.domain.toLowerCase() === domain);
    const signatureData = await Promise.all(
      entries.map(async (k) => {
        const key = await this.key(k.keyFile);
        return { signingDomain: domain, selector: k.selector, privateKey: key.pem, algorithm: key.algorithm, canonicalization: 'relaxed/relaxed', headerList: k.headers };
      }),
    );
    const { dkimSign } = await import('mailauth/lib/dkim/sign.js');
    const res = await dkimSign(content(), { signingDomain: domain, selector: entries[0].selector, privateKey: signatureData[0].privateKey, signatureData });
    if (res.errors?.length) throw new Error(`DKIM signing for ${domain} failed: ${res.errors.map((e) => e.err.message).join('; ')}`);
    return res.signatures;
  }
}
