// What the queue keeps about a mail. The envelope is written once, with the content, and never changes;
// the per-recipient delivery state lives beside it and is rewritten atomically as attempts happen.
import { randomBytes } from 'node:crypto';

export interface ClientInfo {
  address: string;
  port: number;
  /** HELO/EHLO argument. */
  helo: string;
  /** TLS protocol and cipher, when the session was encrypted. */
  tls?: string;
}

/** One delivery target. A RCPT that expands (aliases, virtual maps) yields several, each with its own state. */
export interface EnvelopeRecipient {
  /** The address as given in RCPT TO (the DSN's original recipient). */
  rcpt: string;
  /** Where this copy goes, as resolution (rules and tables) decided at RCPT time. */
  route: RecipientRoute;
  /** Other RCPTs of the same mail that resolved to this same copy (collapsed into one delivery). */
  also?: string[];
}

/**
 * Where one copy goes. `address` is the final address resolution reached (the `Delivered-To` of a local
 * copy, the RCPT TO of an onward one); `mailbox` is the local mailbox name it resolved to, a safe path
 * component (no `/`, not `.` or `..`); `action` names an entry in the config's `actions`.
 */
export type RecipientRoute =
  /** forwarded: a table sent this copy on to another address (SRS applies to its sender). */
  | { kind: 'relay'; address: string; action?: string; forwarded?: true }
  | { kind: 'local'; mailbox: string; action: string; address: string }
  | { kind: 'lmtp'; mailbox: string; action: string; address: string };

/** Two routes with one key are one delivery: the same mailbox by the same action, or the same address onward. */
export function routeKey(route: RecipientRoute): string {
  return route.kind === 'relay' ? `relay ${route.address.toLowerCase()} ${route.action ?? ''}` : `${route.kind} ${route.action} ${route.mailbox}`;
}

export interface Envelope {
  version: 1;
  id: string;
  /** Reverse path; '' is the null sender (bounces). */
  from: string;
  recipients: EnvelopeRecipient[];
  tag?: string;
  /** The AUTH identity, when the client logged in. */
  user?: string;
  listener: string;
  client: ClientInfo;
  /** ms since the epoch */
  receivedAt: number;
  /** SMTPUTF8 / 8BITMIME as the client declared them, for onward delivery. */
  smtputf8?: boolean;
  body?: '7bit' | '8bitmime';
}

export type RecipientStatus = 'pending' | 'delivered' | 'failed';

/**
 * Why a pending recipient waits longer than the retry backoff alone would make it, shown by `kubemta
 * queue`: its destination is paused after a 421 or after taking no connection (`after`: that reply or
 * error), or it was greylisted (`after`: the 450/451 reply).
 */
export type Waiting = { kind: 'throttled'; destination: string; after: string } | { kind: 'greylisted'; after: string };

export interface RecipientState {
  status: RecipientStatus;
  attempts: number;
  /** ms since the epoch; absent: due now. */
  nextAttemptAt?: number;
  lastError?: string;
  /** Set with nextAttemptAt when the wait has a reason beyond the backoff. */
  waiting?: Waiting;
  doneAt?: number;
}

export interface MailState {
  hold: boolean;
  /** One entry per envelope recipient, same order. */
  recipients: RecipientState[];
  bounced?: boolean;
  /** A "delayed" DSN went to the sender (outbound.delayWarningSeconds); sent once per mail. */
  delayWarned?: boolean;
}

export function initialState(env: Envelope): MailState {
  return { hold: false, recipients: env.recipients.map(() => ({ status: 'pending', attempts: 0 })) };
}

/** Time-sortable, unguessable queue id: 12 hex digits of ms time, 8 of randomness. */
export function newQueueId(now = Date.now()): string {
  return now.toString(16).padStart(12, '0') + randomBytes(4).toString('hex');
}

export const QUEUE_ID = /^[0-9a-f]{20}$/;
