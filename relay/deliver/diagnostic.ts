// The one format for a delivery result's detail (what `queue ls` shows, the log, and the DSN reads back):
// `mx.example.net[192.0.2.1] said: 550 5.1.1 <x@example.net>: no such user` for a remote reply, free text
// otherwise. Keeping it in one place lets the bounce rebuild Remote-MTA, Status and Diagnostic-Code.

export interface Diagnostic {
  /** `mx.example.net[192.0.2.1]` when a remote server answered. */
  remoteMta?: string;
  /** The server's reply, e.g. `550 5.1.1 no such user`. */
  reply?: string;
  text: string;
}

export function remoteDetail(mta: string, reply: string): string {
  return `${mta} said: ${reply.replace(/\r?\n/g, ' ').trim()}`;
}

export function parseDiagnostic(detail: string): Diagnostic {
  const m = /(?:^|: )(\S*\[[^\]]+\]) said: (\d{3}\b.*)$/.exec(detail);
  return m ? { remoteMta: m[1], reply: m[2], text: detail } : { text: detail };
}

/**
 * The RFC 3463 status of a result: a code leading the detail (the relay's own, e.g. 4.4.7 for expiry),
 * else the server's enhanced code, else one from the reply's class, else `fallback`.
 */
export function enhancedStatus(detail: string, fallback: string): string {
  const own = /^([245]\.\d{1,3}\.\d{1,3})\b/.exec(detail);
  if (own) return own[1];
  const d = parseDiagnostic(detail);
  if (!d.reply) return fallback;
  const m = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})\b/.exec(d.reply);
  if (m) return m[1];
  const code = Number(d.reply.slice(0, 3));
  return code >= 500 ? '5.0.0' : code >= 400 ? '4.0.0' : fallback;
}
