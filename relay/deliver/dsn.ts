// RFC 3464 delivery status notifications, composed as text (no I/O): a human-readable part, the
// machine-readable message/delivery-status part (one block per recipient: Final-Recipient, Action,
// Status, Remote-MTA, Diagnostic-Code), and the original message's header (text/rfc822-headers, RFC 6522).
import { randomBytes } from 'node:crypto';
import { rfc5322Date } from '../protocol/dates.ts';
import { enhancedStatus, parseDiagnostic } from './diagnostic.ts';

export interface DsnRecipient {
  /** The address the relay tried (Final-Recipient). */
  final: string;
  /** The address as given in RCPT TO, when it differs (aliases, virtual maps). */
  original?: string;
  /** The delivery detail in the diagnostic.ts format. */
  detail: string;
  lastAttemptAt?: number;
}

export interface DsnInput {
  kind: 'failed' | 'delayed';
  reportingMta: string;
  queueId: string;
  sender: string;
  arrivalDate: number;
  recipients: DsnRecipient[];
  /** The original header block (up to the empty line). */
  originalHeaders: Buffer;
  /** For `delayed`: when the relay gives up. */
  willRetryUntil?: number;
  now?: number;
}

/** Keeps a field value on one line and within the 998-octet line limit. */
function oneLine(s: string, max = 900): string {
  const flat = s.replace(/[\r\n]+/g, ' ').trim();
  return flat.length > max ? flat.slice(0, max) + '...' : flat;
}

export function composeDsn(input: DsnInput): { text: string; messageId: string } {
  const now = input.now ?? Date.now();
  const boundary = `${input.queueId}.${randomBytes(6).toString('hex')}/${input.reportingMta}`;
  const messageId = `<${input.queueId}.dsn.${randomBytes(4).toString('hex')}@${input.reportingMta}>`;
  const failed = input.kind === 'failed';
  const lines: string[] = [
    `From: Mail Delivery System <MAILER-DAEMON@${input.reportingMta}>`,
    `To: <${input.sender}>`,
    `Subject: ${failed ? 'Undelivered Mail Returned to Sender' : 'Delayed Mail (still being retried)'}`,
    `Date: ${rfc5322Date(new Date(now))}`,
    `Message-ID: ${messageId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n\tboundary="${boundary}"`,
    '',
    'This is a MIME-encapsulated message.',
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
    '',
    `This is the mail system at host ${input.reportingMta}.`,
    '',
    failed
      ? 'Your message could not be delivered to one or more recipients. It is attached below (headers only).'
      : `Your message has not been delivered yet to the recipients below. The mail system will keep trying${input.willRetryUntil ? ` until ${rfc5322Date(new Date(input.willRetryUntil))}` : ''}; you do not need to send it again.`,
    '',
    ...input.recipients.map((r) => `<${r.final}>: ${oneLine(r.detail)}`),
    '',
    `--${boundary}`,
    'Content-Type: message/delivery-status',
    '',
    `Reporting-MTA: dns; ${input.reportingMta}`,
    `X-Kubemta-Queue-ID: ${input.queueId}`,
    `Arrival-Date: ${rfc5322Date(new Date(input.arrivalDate))}`,
  ];
  for (const r of input.recipients) {
    const d = parseDiagnostic(r.detail);
    lines.push('', `Final-Recipient: rfc822; ${r.final}`);
    if (r.original && r.original.toLowerCase() !== r.final.toLowerCase()) lines.push(`Original-Recipient: rfc822; ${r.original}`);
    lines.push(`Action: ${input.kind}`, `Status: ${enhancedStatus(r.detail, failed ? '5.0.0' : '4.0.0')}`);
    if (d.remoteMta) lines.push(`Remote-MTA: dns; ${d.remoteMta.replace(/\[.*$/, '') || d.remoteMta}`);
    lines.push(d.reply ? `Diagnostic-Code: smtp; ${oneLine(d.reply)}` : `Diagnostic-Code: X-kubemta; ${oneLine(r.detail)}`);
    if (r.lastAttemptAt) lines.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.lastAttemptAt))}`);
    if (!failed && input.willRetryUntil) lines.push(`Will-Retry-Until: ${rfc5322Date(new Date(input.willRetryUntil))}`);
  }
  const headers = input.originalHeaders.toString('utf8').replace(/(\r?\n)+$/, '');
  lines.push('', `--${boundary}`, 'Content-Type: text/rfc822-headers', '', headers, '', `--${boundary}--`, '');
  return { text: lines.join('\r\n').replace(/\r?\n/g, '\r\n'), messageId };
}
