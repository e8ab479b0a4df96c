// Turning one transaction's result into per-recipient outcomes: 2xx delivered, 4xx deferred, 5xx failed,
// per RCPT reply where the server gave one, else for the whole transaction (MAIL FROM, DATA, final reply).
// No reply at all (the connection broke) is always a deferral: the mail may or may not have arrived, and
// sending twice is better than losing it.
import type SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { remoteDetail } from '../diagnostic.ts';
import type { SmtpError } from './client.ts';

/** Recipient address → the envelope indexes it stands for (one RCPT TO for duplicates). */
export type RcptIndex = Map<string, number[]>;

function byCode(code: number | undefined): DeliveryOutcome['result'] {
  if (code !== undefined && code >= 200 && code < 300) return 'delivered';
  if (code !== undefined && code >= 500 && code < 600) return 'failed';
  return 'deferred';
}

function all(rcpts: RcptIndex, result: DeliveryOutcome['result'], detail: string): DeliveryOutcome[] {
  return [...rcpts.values()].flat().map((index) => ({ index, result, detail }));
}

export function deferAll(rcpts: RcptIndex, detail: string): DeliveryOutcome[] {
  return all(rcpts, 'deferred', detail);
}

export function failAll(rcpts: RcptIndex, detail: string): DeliveryOutcome[] {
  return all(rcpts, 'failed', detail);
}

export function outcomesOfSuccess(rcpts: RcptIndex, info: SMTPConnection.SentMessageInfo, mta: string): DeliveryOutcome[] {
  const out: DeliveryOutcome[] = [];
  const rejected = new Map((info.rejectedErrors ?? []).map((e) => [(e as SmtpError).recipient ?? '', e]));
  for (const [address, indexes] of rcpts) {
    const err = rejected.get(address);
    const o = err
      ? { result: byCode(err.responseCode), detail: remoteDetail(mta, err.response ?? err.message) }
      : { result: 'delivered' as const, detail: remoteDetail(mta, info.response) };
    for (const index of indexes) out.push({ index, ...o });
  }
  return out;
}

/** True when the server answered (the session is in a known state and may be reset and reused). */
export function hasReply(err: SmtpError): boolean {
  return typeof err.responseCode === 'number' || !!err.rejectedErrors?.length;
}

export function outcomesOfError(rcpts: RcptIndex, err: SmtpError, mta: string): DeliveryOutcome[] {
  if (err.rejectedErrors?.length && err.command !== 'MAIL FROM') {
    // every recipient refused at RCPT time: each has its own reply
    const rejected = new Map(err.rejectedErrors.map((e) => [(e as SmtpError).recipient ?? '', e]));
    return [...rcpts].flatMap(([address, indexes]) => {
      const e = rejected.get(address);
      const o = e ? { result: byCode(e.responseCode), detail: remoteDetail(mta, e.response ?? e.message) } : { result: 'deferred' as const, detail: `${mta}: ${err.message}` };
      return indexes.map((index) => ({ index, ...o }));
    });
  }
  if (typeof err.responseCode === 'number') {
    return all(rcpts, byCode(err.responseCode) === 'delivered' ? 'deferred' : byCode(err.responseCode), remoteDetail(mta, err.response ?? err.message));
  }
  return deferAll(rcpts, `4.4.2 ${mta}: ${err.message}`);
}
