// Certificates: the pki entries loaded into TLS contexts, chosen by SNI across all entries. A PkiSet is
// immutable; a reload builds a new one and swaps it in, so sessions in a handshake never see half a set.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { PkiConfig, TlsConfig } from '../config/schema.ts';

export interface LoadedPki {
  name: string;
  key: Buffer;
  cert: Buffer;
  context: SecureContext;
  hostnames: string[];
  notAfter: Date;
  fingerprint: string;
}

export class PkiSet {
  readonly entries: Map<string, LoadedPki>;
  constructor(entries: LoadedPki[]) {
    this.entries = new Map(entries.map((e) => [e.name, e]));
  }

  /** The context for an SNI name: an exact hostname first, then a `*.domain` certificate name. */
  forServername(servername: string): SecureContext | undefined {
    const name = servername.toLowerCase().replace(/\.$/, '');
    let wildcard: SecureContext | undefined;
    for (const e of this.entries.values()) {
      for (const h of e.hostnames) {
        if (h === name) return e.context;
        if (!wildcard && h.startsWith('*.') && name.endsWith(h.slice(1)) && !name.slice(0, -h.length + 1).includes('.')) {
          wildcard = e.context;
        }
      }
    }
    return wildcard;
  }
}

function namesInCertificate(cert: X509Certificate): string[] {
  const names = new Set<string>();
  for (const part of (cert.subjectAltName ?? '').split(/,\s*/)) {
    if (part.startsWith('DNS:')) names.add(part.slice(4).toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
  if (cn) names.add(cn.toLowerCase());
  return [...names];
}

/** A selfSigned entry whose files do not exist yet: the relay creates them at start. */
function needsCreating(p: PkiConfig): boolean {
  return !!p.selfSigned && !(existsSync(p.cert) && existsSync(p.key));
}

/** Writes a self-signed certificate for the entry's hostnames when its files do not exist yet. */
export async function ensureSelfSigned(p: PkiConfig): Promise<boolean> {
  if (!needsCreating(p)) return false;
  const names = p.hostnames?.length ? p.hostnames : [p.name];
  // loaded only here: selfsigned brings @peculiar/x509 and its ASN.1 schemas (~1.5 MB of source, several MB
  // of heap) that a relay whose certificates exist never needs
  const { generate } = await import('selfsigned');
  const pems = await generate([{ name: 'commonName', value: names[0] }], {
    // RSA: selfsigned's EC path fails on the asn1 schema in this dependency set, and every client speaks RSA
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 90 * 86400_000),
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((value) => ({ type: 2 as const, value })) },
    ],
  });
  await mkdir(dirname(p.key), { recursive: true });
  await mkdir(dirname(p.cert), { recursive: true });
  await writeFile(p.key, pems.private, { mode: 0o600 });
  await writeFile(p.cert, pems.cert);
  return true;
}

/** The TLS settings every context gets (listeners.ts passes the same to smtp-server's default context). */
export function tlsSettings(tls: TlsConfig) {
  return { ciphers: tls.ciphers, minVersion: tls.minVersion, honorCipherOrder: false } as const;
}

export async function loadPki(p: PkiConfig, tls: TlsConfig): Promise<LoadedPki> {
  const [key, cert] = await Promise.all([readFile(p.key), readFile(p.cert)]);
  const x509 = new X509Certificate(cert);
  // an SNI context keeps the cipher list of the handshake it joins, but set it here too so no context is laxer
  const context = createSecureContext({ key, cert, ...tlsSettings(tls) });
  return {
    name: p.name,
    key,
    cert,
    context,
    hostnames: (p.hostnames?.length ? p.hostnames : namesInCertificate(x509)).map((h) => h.toLowerCase()),
    notAfter: new Date(x509.validTo),
    fingerprint: x509.fingerprint256,
  };
}

/**
 * Loads every entry. `create: false` (kubemta check) writes nothing: a selfSigned entry whose files do not
 * exist yet is left out, since the relay creates it at start.
 */
export async function loadPkiSet(entries: PkiConfig[], tls: TlsConfig, { create = true } = {}): Promise<PkiSet> {
  if (create) for (const p of entries) await ensureSelfSigned(p);
  const present = create ? entries : entries.filter((p) => !needsCreating(p));
  return new PkiSet(await Promise.all(present.map((p) => loadPki(p, tls))));
}
