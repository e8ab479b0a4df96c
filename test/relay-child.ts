// Watching a relay child (harness.spawnRelay) the way a user does: mail in through swaks, the outcome of
// each delivery attempt from its JSON log, counters from /metrics.
import assert from 'node:assert/strict';
import type { spawnRelay } from './harness.ts';
import { swaks } from './harness.ts';
import { until } from './until.ts';

type Child = Awaited<ReturnType<typeof spawnRelay>>;

export class RelayChild {
  readonly child: Child;

  constructor(child: Child) {
    this.child = child;
  }

  /** Every JSON log line so far. */
  events(): Record<string, unknown>[] {
    return this.child.log().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  /** Relays one mail through the listener `plain` (answered 250, or the test fails). */
  async send(to: string, from = 'a@sender.test'): Promise<void> {
    const r = await swaks(this.child.ports.plain, ['--from', from, '--to', to]);
    assert.equal(r.code, 0, r.transcript);
  }

  /** The scheduler's log line of the first attempt (delivered or deferred) for a recipient. */
  attempt(to: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return until(`the attempt for ${to}`, () => this.events().find((e) => e.rcpt === to && (e.result === 'deferred' || e.result === 'delivered')), timeoutMs);
  }

  /** A counter's value from /metrics (0 when absent). */
  async metric(name: string, labels: string): Promise<number> {
    const http = (this.events().find((e) => e.msg === 'relay ready') as { http: number }).http;
    const text = await (await fetch(`http://127.0.0.1:${http}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return Number(line?.split(' ')[1] ?? 0);
  }
}
