// smtp-server turns an A-label domain (`user@xn--bcher-kva.example`) into its Unicode form while parsing
// MAIL/RCPT. The relay then sees a non-ASCII address the client never sent, refuses it without SMTPUTF8
// (553 5.6.7), and would deliver other bytes than came in. An ASCII address is taken exactly as sent.

type Parsed = { address: string; args: unknown } | false;

/** The address between `<` and `>` of a MAIL/RCPT line, without a source route (RFC 5321 4.1.2). */
function pathAsSent(line: string): string | undefined {
  const m = /<([^<>]*)>/.exec(line);
  return m ? m[1].replace(/^@[^\s,:@]+(?:,@[^\s,:@]+)*:/, '') : undefined;
}

/** The parsed command with its address as the client sent it, when the library only re-encoded the domain. */
export function keepAddressAsSent<P extends Parsed>(line: string, parsed: P): P {
  if (!parsed) return parsed;
  const sent = pathAsSent(line);
  if (sent === undefined || sent === parsed.address || !/^[\x21-\x7e]*$/.test(sent)) return parsed;
  const at = sent.lastIndexOf('@');
  // only the domain may differ (punycode); an address literal the library normalised stays normalised
  if (at < 0 || sent[at + 1] === '[' || parsed.address.slice(0, parsed.address.lastIndexOf('@')) !== sent.slice(0, at)) return parsed;
  return { ...parsed, address: sent };
}
