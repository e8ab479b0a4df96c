// Where a relay recipient goes: through a smarthost (the action's, else outbound.smarthost) or to the MX
// hosts of its domain. The destination key groups recipients into one transaction and connections into
// one pool slot set (Postfix's "nexthop").
import type { Config } from '../../config/schema.ts';
import type { RecipientRoute } from '../../queue/envelope.ts';
import { parseSmarthost } from '../../config/smarthost.ts';

export type Destination =
  | { key: string; kind: 'smarthost'; host: string; port: number; implicitTls: boolean }
  | { key: string; kind: 'mx'; domain: string };

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}

export function destinationOf(route: Extract<RecipientRoute, { kind: 'relay' }>, config: Config): Destination | { error: string } {
  const action = route.action ? config.actions[route.action] : undefined;
  const spec = (action?.type === 'relay' ? action.smarthost : undefined) ?? config.outbound.smarthost;
  if (spec) {
    const sh = parseSmarthost(spec);
    if (!sh) return { error: `smarthost "${spec}" is not smtp://host:port or smtps://host:port` };
    return { key: `${sh.implicitTls ? 'smtps' : 'smtp'}:[${sh.host}]:${sh.port}`, kind: 'smarthost', ...sh };
  }
  const domain = domainOf(route.address);
  return { key: `mx:${domain}`, kind: 'mx', domain };
}
