// What a smarthost URL is (`outbound.smarthost`, `actions.<name>.smarthost`): read by the config check and
// by delivery, so both agree on the host, the port and whether TLS starts at once.
import { isIP } from 'node:net';

export interface Smarthost {
  /** A name, or an IP address without brackets. */
  host: string;
  port: number;
  /** smtps://: TLS from the first byte. */
  implicitTls: boolean;
}

/** `smtp://host:port`, `smtps://host:port` or bare `host[:port]`; undefined when unreadable. */
export function parseSmarthost(spec: string): Smarthost | undefined {
  try {
    const url = new URL(spec.includes('://') ? spec : `smtp://${spec}`);
    if (url.protocol !== 'smtp:' && url.protocol !== 'smtps:') return undefined;
    const implicitTls = url.protocol === 'smtps:';
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    if (!host) return undefined;
    return { host, port: url.port ? Number(url.port) : implicitTls ? 465 : 25, implicitTls };
  } catch {
    return undefined;
  }
}

/** Whether an IP address may be used under `outbound.family`. */
export function fitsFamily(address: string, family: 'inet4' | 'inet6' | 'any'): boolean {
  const v = isIP(address);
  return family === 'any' ? v !== 0 : v === (family === 'inet4' ? 4 : 6);
}

/** Why an IP-literal smarthost cannot be used under `family`; undefined for names and fitting addresses. */
export function literalFamilyProblem(host: string, family: 'inet4' | 'inet6' | 'any'): string | undefined {
  const v = isIP(host);
  if (v === 0 || fitsFamily(host, family)) return undefined;
  return `${host} is an IPv${v} address and outbound.family is ${family}`;
}
