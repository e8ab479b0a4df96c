// The content filter: rspamd over its HTTP protocol (POST /checkv2, the way Haraka's and OpenSMTPD's
// rspamd filters talk to it). The envelope travels in request headers (IP, Helo, From, Rcpt, User,
// Queue-Id), the message as the body, streamed from the spooled file. The verdict is one of a few kinds;
// what to do with it (refuse, mark, rewrite) is decided in intake.ts.
import { createReadStream } from 'node:fs';
import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface FilterRequest {
  url: string;
  file: string;
  size: number;
  ip: string;
  helo: string;
  from: string;
  rcpts: string[];
  user?: string;
  queueId: string;
  timeoutMs: number;
}

/** A header field the filter asks for: added above the message's own, or removed from it. */
export interface FilterHeaders {
  add: [name: string, value: string][];
  remove: string[];
}

export type FilterVerdict =
  | { kind: 'accept'; action: string; score: number; headers: FilterHeaders; subject?: string }
  | { kind: 'reject'; action: string; score: number; message?: string }
  | { kind: 'tempfail'; action: string; score: number; message?: string }
  | { kind: 'failed'; cause: string };

/** Header values go out as their UTF-8 bytes (Node refuses characters above U+00FF in a header). */
function bytes(s: string): string {
  return Buffer.from(s.replace(/[\r\n]/g, ''), 'utf8').toString('latin1');
}

/** What a filter may put into a header field or a reply: no controls, a sane length. */
function clean(s: unknown, max = 998): string {
  return String(s ?? '').replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' ').slice(0, max);
}

interface RspamdReply {
  action?: string;
  score?: number;
  subject?: string;
  messages?: { smtp_message?: string };
  milter?: {
    add_headers?: Record<string, string | { value: string } | { value: string }[]>;
    remove_headers?: Record<string, number>;
  };
}

function headersOf(milter: RspamdReply['milter']): FilterHeaders {
  const add: [string, string][] = [];
  for (const [name, v] of Object.entries(milter?.add_headers ?? {})) {
    if (!/^[!-9;-~]+$/.test(name)) continue;
    for (const one of Array.isArray(v) ? v : [v]) add.push([name, clean(typeof one === 'string' ? one : one.value)]);
  }
  const remove = Object.keys(milter?.remove_headers ?? {}).filter((n) => /^[!-9;-~]+$/.test(n));
  return { add, remove };
}

export function verdictOf(reply: RspamdReply): FilterVerdict {
  const action = String(reply.action ?? 'no action');
  const score = Number(reply.score ?? 0);
  const message = reply.messages?.smtp_message ? clean(reply.messages.smtp_message, 200) : undefined;
  switch (action) {
    case 'reject':
      return { kind: 'reject', action, score, message };
    case 'soft reject':
    case 'greylist':
      return { kind: 'tempfail', action, score, message };
    case 'rewrite subject':
      return { kind: 'accept', action, score, headers: headersOf(reply.milter), subject: reply.subject ? clean(reply.subject) : undefined };
    case 'add header':
    case 'no action':
      return { kind: 'accept', action, score, headers: headersOf(reply.milter) };
    default:
      return { kind: 'failed', cause: `unknown action ${JSON.stringify(action).slice(0, 40)}` };
  }
}

function post(req: FilterRequest, signal: AbortSignal): Promise<IncomingMessage> {
  const url = new URL('/checkv2', req.url);
  const headers: OutgoingHttpHeaders = {
    'Content-Length': req.size,
    IP: req.ip.replace(/^::ffff:(?=\d+\.)/i, ''),
    Helo: bytes(req.helo),
    From: bytes(req.from),
    Rcpt: req.rcpts.map(bytes),
    'Queue-Id': req.queueId,
  };
  if (req.user) headers.User = bytes(req.user);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = request(url, { method: 'POST', headers, signal }, resolve);
    r.on('error', reject);
    const body = createReadStream(req.file);
    body.on('error', (err) => r.destroy(err));
    body.pipe(r);
  });
}

async function readJson(res: IncomingMessage, limit = 4 * 1024 * 1024): Promise<unknown> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    n += (chunk as Buffer).length;
    if (n > limit) throw new Error('reply too large');
    chunks.push(chunk as Buffer);
  }
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

export async function filterMail(req: FilterRequest): Promise<FilterVerdict> {
  const signal = AbortSignal.timeout(req.timeoutMs);
  try {
    const res = await post(req, signal);
    if (res.statusCode !== 200) {
      res.resume();
      return { kind: 'failed', cause: `HTTP ${res.statusCode}` };
    }
    return verdictOf((await readJson(res)) as RspamdReply);
  } catch (err) {
    if (signal.aborted) return { kind: 'failed', cause: 'timeout' };
    return { kind: 'failed', cause: (err as Error).message };
  }
}
