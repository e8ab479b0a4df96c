// Replays the SMTP scenarios of test/fixtures/smtp-scenarios.yaml against a server and reduces every reply to its class
// (2, 3, 4, 5, or `closed`/`none`), so two servers' answers can be compared step by step. Every socket
// read is bounded: a server that stays silent gives `none` after the step's timeout, never a hang.
import { readFile } from 'node:fs/promises';
import * as yaml from 'js-yaml';
import { RawSmtp } from './harness.ts';

export interface Step {
  /** Bytes to send, CRLF added to a `send` line; `raw` goes out as written (one write: pipelining). */
  bytes: Buffer;
  /** Replies the step waits for (default 1; 0 for DATA content that gets no answer yet). */
  replies: number;
  /** Why kubemta's reply class differs from Postfix's here on purpose; absent: they must agree. */
  differs?: string;
  label: string;
}

export interface Scenario {
  name: string;
  group: string;
  steps: Step[];
}

type RawStep = string | { send?: string; raw?: string; replies?: number; differs?: string };
type RawScenario = { name: string; steps: RawStep[] };
type RawFile = Record<string, RawScenario[]>;

/** `{{x*300}}` in a step stands for 300 times "x", so long lines stay readable in the data file. */
export function expand(s: string): string {
  return s.replace(/\{\{([\s\S]+?)\*(\d+)\}\}/g, (_m, what: string, n: string) => what.repeat(Number(n)));
}

export async function loadScenarios(file: string): Promise<Scenario[]> {
  const doc = yaml.load(await readFile(file, 'utf8')) as RawFile;
  const out: Scenario[] = [];
  for (const [group, list] of Object.entries(doc)) {
    for (const sc of list) {
      const steps = sc.steps.map((st): Step => {
        const o = typeof st === 'string' ? { send: st } : st;
        const text = o.raw !== undefined ? expand(o.raw) : expand(o.send ?? '') + '\r\n';
        // latin1: a `\xNN` escape in the YAML file is that one byte on the wire (8-bit tests)
        return { bytes: Buffer.from(text, 'latin1'), replies: o.replies ?? 1, differs: o.differs, label: JSON.stringify(o.raw ?? o.send).slice(0, 80) };
      });
      out.push({ name: sc.name, group, steps });
    }
  }
  return out;
}

export interface StepResult {
  label: string;
  replies: string[];
}

/** The class of a reply: its first digit, or `closed` / `none`. */
export function replyClass(r: string): string {
  return /^\d/.test(r) ? r[0] : r;
}

export async function replay(port: number, sc: Scenario, timeoutMs = 4000): Promise<StepResult[]> {
  const s = await RawSmtp.connect(port);
  try {
    const results: StepResult[] = [{ label: 'greeting', replies: [await s.next(timeoutMs)] }];
    for (const step of sc.steps) {
      if (!s.closed) s.send(step.bytes);
      const replies: string[] = [];
      for (let i = 0; i < step.replies; i++) replies.push(await s.next(timeoutMs));
      results.push({ label: step.label, replies });
    }
    return results;
  } finally {
    s.end();
  }
}
