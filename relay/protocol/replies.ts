// One reply vocabulary: every refusal the relay sends has a code, an enhanced status code (RFC 3463)
// and a reason. Hooks throw or return these; smtp-server gets them as errors with responseCode.

export interface SmtpReply {
  code: number;
  /** Enhanced status code, e.g. 5.7.1 */
  status: string;
  text: string;
}

export type SmtpError = Error & { responseCode: number };

export function reply(code: number, status: string, text: string): SmtpReply {
  return { code, status, text };
}

/** The reply as smtp-server sends it: the enhanced code leads the text (see server.ts, which keeps it). */
export function toError(r: SmtpReply): SmtpError {
  const err = new Error(`${r.status} ${r.text}`) as SmtpError;
  err.responseCode = r.code;
  return err;
}

export const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

// The replies the relay gives, in one table, so a code never loses its meaning (tested for consistency).
export const Replies = {
  tooManyConnections: reply(421, '4.7.0', 'Too many connections, try again later'),
  tooManyFromClient: reply(421, '4.7.0', 'Too many connections from your address, try again later'),
  tooManyCommands: reply(421, '4.7.0', 'Too many commands in one session, closing'),
  tooManyAuthFailures: reply(421, '4.7.0', 'Too many failed AUTH attempts from your address, try again later'),
  tooManyAuthFailuresForUser: reply(421, '4.7.0', 'Too many failed AUTH attempts for this user, try again later'),
  shuttingDown: reply(421, '4.3.2', 'Shutting down, try again later'),
  dataTimeout: reply(421, '4.4.2', 'DATA took too long, closing'),
  dataTooSlow: reply(421, '4.7.0', 'DATA arriving too slowly, closing'),
  commandTimeout: reply(421, '4.7.0', 'Command not completed in time, closing'),
  localError: reply(451, '4.3.0', 'Local error in processing, try again later'),
  queueFull: reply(452, '4.3.1', 'Insufficient system storage, try again later'),
  tooManyRecipients: reply(452, '4.5.3', 'Too many recipients for one message'),
  tooManyMessages: reply(421, '4.7.0', 'Too many messages in one session, closing'),
  // rate limits (relay/limits/rates.ts): the text is completed with who, the limit and when it resets
  rateConnections: reply(421, '4.7.0', 'Too many connections from'),
  rateMessages: reply(450, '4.7.1', 'Too many messages from'),
  rateRecipients: reply(450, '4.7.1', 'Too many recipients from'),
  bareLineEndInCommand: reply(500, '5.5.2', 'Bare CR or LF in command; only CRLF ends a line (RFC 5321 2.3.8)'),
  bareLineEndInData: reply(554, '5.6.0', 'Message contains a bare CR or LF; only CRLF ends a line (RFC 5321 2.3.8), nothing queued'),
  tlsRequired: reply(530, '5.7.0', 'Must issue a STARTTLS command first'),
  vrfyDisabled: reply(502, '5.5.1', 'VRFY command is disabled'),
  authRequired: reply(530, '5.7.0', 'Authentication required'),
  authFailed: reply(535, '5.7.8', 'Authentication credentials invalid'),
  authUnavailable: reply(454, '4.7.0', 'Temporary authentication failure'),
  relayDenied: reply(550, '5.7.1', 'Relaying denied'),
  needsSmtputf8: reply(553, '5.6.7', 'A non-ASCII address needs MAIL FROM with the SMTPUTF8 parameter (RFC 6531)'),
  unknownUser: reply(550, '5.1.1', 'No such user here'),
  badMailbox: reply(553, '5.1.3', 'Recipient address cannot be a mailbox name'),
  routingLoop: reply(550, '5.4.6', 'Routing loop: the recipient\'s aliases lead back to themselves'),
  tooManyHops: reply(550, '5.4.6', 'Too many hops: the recipient\'s alias chain exceeds the hop limit'),
  tooManyTargets: reply(550, '5.3.4', 'The recipient expands to too many addresses'),
  badSrs: reply(550, '5.7.1', 'Invalid or expired SRS address'),
  messageTooBig: reply(552, '5.3.4', 'Message exceeds the maximum message size, nothing queued'),
  dmarcReject: reply(550, '5.7.1', 'Rejected by the DMARC policy of the sender\'s domain, nothing queued'),
  dmarcQuarantineReject: reply(550, '5.7.1', 'Failed DMARC under the sender domain\'s quarantine policy, nothing queued'),
  filterReject: reply(550, '5.7.1', 'Message rejected by the content filter, nothing queued'),
  filterTempfail: reply(451, '4.7.1', 'Message deferred by the content filter, try again later'),
  filterUnavailable: reply(451, '4.7.1', 'Content filter unavailable, try again later'),
  tooManyHopsInData: reply(554, '5.4.6', 'Too many hops (Received: fields): a mail loop? Nothing queued'),
} as const satisfies Record<string, SmtpReply>;
