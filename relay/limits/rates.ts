// Rate limits per replica: connections and messages per client network, messages and recipients per
// sender (the authenticated user, else the sender domain). Each check either counts the command and
// admits it, or names the limit it is over and when that limit's window ends; a refused command is not
// counted, so a window always ends at the time the refusal said.
import type { RatesConfig, ListenerRatesConfig } from '../config/rates-schema.ts';
import { clientNetwork } from './network.ts';
import { WindowTable, type Window } from './windows.ts';

export type RateLimitName = 'client-connections' | 'client-messages' | 'sender-messages' | 'sender-recipients';

export interface RateRefusal {
  limit: RateLimitName;
  /** Who is counted, for the reply and the log: "network 192.0.2.7/32", "user max", "sender domain example.org". */
  who: string;
  max: number;
  windowSeconds: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetInMs: number;
  /** True for the first refusal in this window: log it; the later ones are only counted. */
  firstInWindow: boolean;
}

/** What a listener sees: its name (its counts are apart when it overrides) and its override, if any. */
export interface RateScope {
  name: string;
  rates?: ListenerRatesConfig;
}

/** The sender a message counts under, or undefined for the null sender (bounces are counted per client). */
export function senderOf(user: string | undefined, mailFrom: string): string | undefined {
  if (user) return `user ${user}`;
  const at = mailFrom.lastIndexOf('@');
  return at < 0 ? undefined : `sender domain ${mailFrom.slice(at + 1).toLowerCase()}`;
}

interface Check {
  table: WindowTable;
  key: string;
  who: string;
  max: number | undefined;
  windowSeconds: number;
  limit: RateLimitName;
}

export class RateLimiter {
  readonly clients: WindowTable;
  readonly senders: WindowTable;
  private readonly rates: () => RatesConfig;

  /** `rates` is read at each check, so a config reload applies at once. */
  constructor(rates: () => RatesConfig) {
    this.rates = rates;
    this.clients = new WindowTable(() => this.rates().maxTracked);
    this.senders = new WindowTable(() => this.rates().maxTracked);
  }

  private effective(scope: RateScope): RatesConfig {
    const base = this.rates();
    const o = scope.rates;
    return o ? { ...base, client: { ...base.client, ...o.client }, sender: { ...base.sender, ...o.sender } } : base;
  }

  private client(scope: RateScope, address: string, limit: 'client-connections' | 'client-messages'): Check {
    const r = this.effective(scope);
    const c = r.client;
    const net = clientNetwork(address, c.ipv4Prefix, c.ipv6Prefix);
    const max = limit === 'client-connections' ? c.connections : c.messages;
    return { table: this.clients, key: `${scope.rates ? scope.name : ''}|${limit}|${net}`, who: `network ${net}`, max, windowSeconds: c.windowSeconds, limit };
  }

  private sender(scope: RateScope, sender: string, limit: 'sender-messages' | 'sender-recipients'): Check {
    const s = this.effective(scope).sender;
    const max = limit === 'sender-messages' ? s.messages : s.recipients;
    return { table: this.senders, key: `${scope.rates ? scope.name : ''}|${limit}|${sender}`, who: sender, max, windowSeconds: s.windowSeconds, limit };
  }

  /** Checks all, then counts all or none: a message refused per sender is not counted per client. */
  private admit(checks: Check[], now: number): RateRefusal | undefined {
    const open: Window[] = [];
    for (const c of checks) {
      if (c.max === undefined) continue;
      const w = c.table.window(c.key, now, c.windowSeconds * 1000);
      if (w.count >= c.max) {
        const firstInWindow = !w.logged;
        w.logged = true;
        return { limit: c.limit, who: c.who, max: c.max, windowSeconds: c.windowSeconds, resetInMs: w.resetAt - now, firstInWindow };
      }
      open.push(w);
    }
    for (const w of open) w.count++;
    return undefined;
  }

  connection(scope: RateScope, address: string, now = Date.now()): RateRefusal | undefined {
    return this.admit([this.client(scope, address, 'client-connections')], now);
  }

  message(scope: RateScope, address: string, sender: string | undefined, now = Date.now()): RateRefusal | undefined {
    const checks = [this.client(scope, address, 'client-messages')];
    if (sender) checks.push(this.sender(scope, sender, 'sender-messages'));
    return this.admit(checks, now);
  }

  recipient(scope: RateScope, sender: string | undefined, now = Date.now()): RateRefusal | undefined {
    return sender ? this.admit([this.sender(scope, sender, 'sender-recipients')], now) : undefined;
  }

  clear(): void {
    this.clients.clear();
    this.senders.clear();
  }
}
