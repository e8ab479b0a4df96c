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

type DkimKey = OutboundConfig['dkim'][number];

/** Why a key cannot sign, in words: OpenSSL's decoder says only `unsupported` for a file that is no PEM key. */
function keyProblem(err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') return 'no such file';
  if (err.code === 'EACCES') return 'not readable by the relay';
  if (err.code === 'EISDIR') return 'a directory, not a file';
  if (err.code === 'ERR_OSSL_UNSUPPORTED' || /DECODER|PEM|asn1|bad base64/i.test(err.message)) return `not a PEM private key (${err.message})`;
  return err.message;
}

/**
 * Reads and checks one configured key. The error names the selector, the domain and the file (never the
 * key): `kubemta check`, a (re)load and a delivery all report an unusable key the same way.
 */
export async function loadDkimKey(entry: DkimKey): Promise<LoadedKey> {
  try {
    const { mtimeMs } = await stat(entry.keyFile);
    const pem = await readFile(entry.keyFile, 'utf8');
    return { mtimeMs, pem, algorithm: algorithmOf(pem) };
  } catch (err) {
    throw new Error(`DKIM key of selector ${entry.selector} for ${entry.domain} (${entry.keyFile}) is unusable: ${keyProblem(err as NodeJS.ErrnoException)}`);
  }
}

/** Every configured key that cannot sign, one problem each with its config path (for check and reload). */
export async function dkimKeyProblems(keys: DkimKey[]): Promise<string[]> {
  const results = await Promise.all(keys.map((k, i) => loadDkimKey(k).then(() => '', (err: Error) => `outbound.dkim[${i}].keyFile: ${err.message}`)));
  return results.filter(Boolean);
}

export class DkimSigner {
  private readonly keys = new Map<string, LoadedKey>();

  private async key(entry: DkimKey): Promise<LoadedKey> {
    const cached = this.keys.get(entry.keyFile);
    const mtimeMs = await stat(entry.keyFile).then((s) => s.mtimeMs, () => undefined);
    if (cached && cached.mtimeMs === mtimeMs) return cached;
    const loaded = await loadDkimKey(entry);
    this.keys.set(entry.keyFile, loaded);
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
        const key = await this.key(k);
        return { signingDomain: domain, selector: k.selector, privateKey: key.pem, algorithm: key.algorithm, canonicalization: 'relaxed/relaxed', headerList: k.headers };
      }),
    );
    const { dkimSign } = await import('mailauth/lib/dkim/sign.js');
    const res = await dkimSign(content(), { signingDomain: domain, selector: entries[0].selector, privateKey: signatureData[0].privateKey, signatureData });
    if (res.errors?.length) throw new Error(`DKIM signing for ${domain} failed: ${res.errors.map((e) => e.err.message).join('; ')}`);
    return res.signatures;
  }
}
