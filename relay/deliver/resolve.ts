// Host names to addresses the way every other program in the pod resolves them: getaddrinfo (`dns.lookup`),
// which reads /etc/hosts (a pod's hostAliases), resolv.conf's search domains and ndots, and nsswitch. DNS
// servers asked directly (node:dns Resolver, mx.ts) see none of that, so `smtp://relay.mail` or a name
// only in hostAliases would never resolve. Postfix calls the two `native` and `dns` (smtp_host_lookup).
import { lookup } from 'node:dns/promises';

export type Family = 'inet4' | 'inet6' | 'any';

/** A lookup's result: the answer, no such record (NODATA), no such name (NXDOMAIN), or try again later. */
export type Lookup<T> = { kind: 'ok'; value: T } | { kind: 'none' } | { kind: 'nxdomain' } | { kind: 'tempfail'; cause: string };

/** Error codes of node:dns (c-ares and getaddrinfo alike) that are answers, not failures. */
export function classify<T>(err: unknown): Lookup<T> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENODATA' || code === 'EAI_NODATA') return { kind: 'none' };
  if (code === 'ENOTFOUND') return { kind: 'nxdomain' };
  return { kind: 'tempfail', cause: `${code ?? 'error'}: ${(err as Error).message}` };
}

/** getaddrinfo's addresses of `host` in `family`, IPv4 first with `any` (as mx.ts orders DNS answers). */
export async function nativeAddresses(host: string, family: Family): Promise<Lookup<string[]>> {
  try {
    const found = await lookup(host, { all: true, family: family === 'inet4' ? 4 : family === 'inet6' ? 6 : 0, order: 'ipv4first' });
    // getaddrinfo answers once per socket type unless told otherwise; one address is one address
    const addresses = [...new Set(found.map((a) => a.address))];
    return addresses.length ? { kind: 'ok', value: addresses } : { kind: 'none' };
  } catch (err) {
    return classify<string[]>(err);
  }
}
