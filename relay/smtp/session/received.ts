// The Received: trace header (RFC 5321 4.4) with the protocol keyword of RFC 3848 (ESMTPSA and kin).
import { isIPv6 } from 'node:net';
import type { SMTPServerSession } from 'smtp-server';
import type { Envelope } from '../../queue/envelope.ts';
import { rfc5322Date } from '../../protocol/dates.ts';

function protocol(session: SMTPServerSession, authenticated: boolean): string {
  const esmtp = /^(EHLO|LHLO)$/i.test(session.openingCommand || '');
  return (esmtp ? 'ESMTP' : 'SMTP') + (session.secure ? 'S' : '') + (authenticated ? 'A' : '');
}

/** Strips what could break the header (CR, LF, and other controls) from client-supplied text. */
function clean(s: string): string {
  return s.replace(/[\x00-\x1f\x7f()]/g, '').slice(0, 255);
}

/** The client's address as an RFC 5321 4.1.3 address literal: `[192.0.2.7]`, `[IPv6:2001:db8::7]`. */
export function addressLiteral(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return `[${mapped[1]}]`;
  return isIPv6(address) ? `[IPv6:${address}]` : `[${address}]`;
}

export function receivedHeader(env: Envelope, session: SMTPServerSession, hostname: string): string {
  const helo = clean(env.client.helo || 'unknown');
  const rdns = session.clientHostname && !session.clientHostname.startsWith('[') ? clean(session.clientHostname) + ' ' : '';
  const lines = [`Received: from ${helo} (${rdns}${addressLiteral(env.client.address)})`, `\tby ${hostname} (kubemta) with ${protocol(session, !!env.user)} id ${env.id}`];
  if (session.tlsOptions) lines.push(`\t(using ${session.tlsOptions.version} with cipher ${session.tlsOptions.name})`);
  const onlyRcpt = env.recipients.length === 1 ? ` for <${env.recipients[0].rcpt}>` : '';
  lines[lines.length - 1] += `${onlyRcpt};`;
  lines.push(`\t${rfc5322Date(new Date(env.receivedAt))}`);
  return lines.join('\r\n') + '\r\n';
}
