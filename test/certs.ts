// Test certificates (selfsigned): a self-signed one for some names, one a private CA signs, or the CA
// itself; for TLS next hops, DANE TLSA records and MTA-STS policy hosts.
import { generate } from 'selfsigned';

export interface Pem {
  key: string;
  cert: string;
}

/** A certificate for `names` (the first is the CN), self-signed or signed by `ca`; or (isCa) a CA certificate. */
export async function certificate(names: string | string[], opts: { ca?: Pem; isCa?: boolean } = {}): Promise<Pem> {
  const list = Array.isArray(names) ? names : [names];
  const extensions = opts.isCa
    ? [{ name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true }]
    : [{ name: 'subjectAltName', altNames: list.map((value) => ({ type: 2 as const, value })) }];
  const pems = await generate([{ name: 'commonName', value: list[0] }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256', ca: opts.ca, extensions } as Parameters<typeof generate>[1]);
  return { key: pems.private, cert: pems.cert };
}

/** The server certificate followed by its issuer, as a TLS server presents the chain. */
export function chain(leaf: Pem, ca: Pem): Pem {
  return { key: leaf.key, cert: `${leaf.cert.trim()}\n${ca.cert.trim()}\n` };
}
