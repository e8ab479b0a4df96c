import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { greylisted, postponed, throttled } from './waits.ts';
import type { DeliveryOutcome } from '../../scheduler/scheduler.ts';

const said = (reply: string) => `mx.example.net[192.0.2.1] said: ${reply}`;

describe('relay/deliver/smtp/waits', () => {
  it('holds back only deferrals answered 450 or 451, whatever the command', () => {
    const outcomes: DeliveryOutcome[] = [
      { index: 0, result: 'deferred', detail: said('450 4.2.0 <a@x>: Recipient address rejected: Greylisted') },
      { index: 1, result: 'deferred', detail: said('451 4.7.1 Try again later') },
      { index: 2, result: 'deferred', detail: said('452 4.5.3 Too many recipients') },
      { index: 3, result: 'deferred', detail: '4.4.2 mx.example.net[192.0.2.1]: Connection closed unexpectedly' },
      { index: 4, result: 'failed', detail: said('550 5.1.1 no such user') },
      { index: 5, result: 'delivered', detail: said('250 2.0.0 Ok') },
    ];
    const out = greylisted(outcomes, 5000);
    assert.deepEqual(out.map((o) => o.notBefore), [5000, 5000, undefined, undefined, undefined, undefined]);
    assert.deepEqual(out[1].waiting, { kind: 'greylisted', after: '451 4.7.1 Try again later' });
  });

  it('marks a paused destination\'s deferrals, and postpones untried recipients with the cause as their error', () => {
    const pause = { until: 9000, after: '421 4.7.0 Too many connections', detail: said('421 4.7.0 Too many connections') };
    const dest = { key: 'mx:example.net', kind: 'mx' as const, domain: 'example.net' };
    const [t] = throttled([{ index: 0, result: 'deferred', detail: pause.detail }], dest, pause);
    assert.deepEqual(t, { index: 0, result: 'deferred', detail: pause.detail, notBefore: 9000, waiting: { kind: 'throttled', destination: 'example.net', after: pause.after } });
    const smarthost = { key: 'smtp:[relay.example]:587', kind: 'smarthost' as const, host: 'relay.example', port: 587, implicitTls: false };
    const p = postponed(new Map([['a@example.net', [0, 2]]]), smarthost, pause);
    assert.deepEqual(p.map((o) => [o.index, o.attempted, o.notBefore, o.waiting?.kind === 'throttled' && o.waiting.destination]), [[0, false, 9000, 'relay.example:587'], [2, false, 9000, 'relay.example:587']]);
  });
});
