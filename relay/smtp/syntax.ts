// Command syntax smtp-server lets through but Postfix and OpenSMTPD refuse (relay/smtp/conformance shows
// each case against a real Postfix). Checked on the raw line before the library parses it, so what the
// library would silently drop or reinterpret never reaches a hook:
//  - MAIL/RCPT: no space before the colon; every parameter must belong to an extension we advertised
//    (RFC 5321 4.1.1.11: 555 for an unknown one), which also catches junk after the address;
//  - RSET and DATA take no argument, HELP none we could answer (RFC 5321 4.1.1.5, 4.1.1.4);
//  - EHLO/HELO: the name is ASCII (a domain or an address literal, RFC 5321 4.1.1.1), no 8-bit bytes.
import { Replies, reply, type SmtpReply } from '../protocol/replies.ts';

/** What the session has advertised, which decides the parameters MAIL may carry. */
export interface SyntaxContext {
  /** AUTH is offered in this session (after TLS, on a listener with AUTH): MAIL's AUTH= (RFC 4954 5). */
  auth: boolean;
}

// SIZE (RFC 1870), BODY (8BITMIME, RFC 6152), SMTPUTF8 (RFC 6531): what the EHLO reply offers. DSN's
// RET/ENVID/NOTIFY/ORCPT and REQUIRETLS are not offered, so they are unknown parameters here.
const MAIL_PARAMS = new Set(['SIZE', 'BODY', 'SMTPUTF8']);
const RCPT_PARAMS = new Set<string>();
const NO_ARGUMENT = new Set(['RSET', 'DATA', 'HELP']);

export const SyntaxReplies = {
  mailSyntax: reply(501, '5.5.4', 'Syntax: MAIL FROM:<address>'),
  rcptSyntax: reply(501, '5.5.4', 'Syntax: RCPT TO:<address>'),
  heloNotAscii: reply(501, '5.5.2', 'The EHLO/HELO name must be ASCII: a domain or an address literal (RFC 5321 4.1.1.1)'),
  noArgument: (verb: string) => reply(501, '5.5.4', `Syntax: ${verb} (no argument)`),
  unknownParameter: (param: string) => reply(555, '5.5.4', `Unsupported parameter: ${param.slice(0, 64)}`),
} as const;

function hasEightBit(line: Buffer): boolean {
  for (const b of line) if (b >= 0x80) return true;
  return false;
}

/** The refusal for a command line smtp-server would accept but should not, or undefined. */
export function checkSyntax(line: Buffer, ctx: SyntaxContext): SmtpReply | undefined {
  const text = line.toString('latin1');
  const verb = /^\S*/.exec(text)![0].toUpperCase();
  const rest = text.slice(verb.length);
  // neither confirms nor denies users (no address harvesting), as OpenSMTPD, and Postfix with disable_vrfy_command
  if (verb === 'VRFY') return Replies.vrfyDisabled;
  if (verb === 'EHLO' || verb === 'HELO') return hasEightBit(line) ? SyntaxReplies.heloNotAscii : undefined;
  if (NO_ARGUMENT.has(verb)) return rest.trim() ? SyntaxReplies.noArgument(verb) : undefined;
  if (verb === 'MAIL' || verb === 'RCPT') {
    const keyword = verb === 'MAIL' ? 'FROM' : 'TO';
    const bad = verb === 'MAIL' ? SyntaxReplies.mailSyntax : SyntaxReplies.rcptSyntax;
    const m = new RegExp(`^ ${keyword}:`, 'i').exec(rest);
    if (!m) return bad;
    // the path; leading spaces after the colon are tolerated (as Postfix does: many clients send them)
    const after = rest.slice(m[0].length).replace(/^ +/, '');
    if (!after.startsWith('<')) return undefined; // not a path: smtp-server refuses it (501)
    const close = after.indexOf('>');
    if (close < 0) return undefined;
    const params = after.slice(close + 1).split(' ').filter((p) => p !== '');
    const allowed = verb === 'MAIL' ? MAIL_PARAMS : RCPT_PARAMS;
    for (const p of params) {
      const name = p.split('=')[0].toUpperCase();
      if (allowed.has(name) || (verb === 'MAIL' && name === 'AUTH' && ctx.auth)) continue;
      return SyntaxReplies.unknownParameter(p);
    }
  }
  return undefined;
}
