// MailServer.spec.outbound.concurrency, maxMessagesPerConnection and retry: the relay's own schema pieces
// (relay/config/outbound-schema.ts), so the CRD validates them with the relay's limits and defaults and
// render passes them on unchanged; absent, the relay's defaults apply.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../relay/config/index.ts';
import { validateObject } from '../api/validate.ts';
import { snapshotFromDocuments } from './documents.ts';
import { render } from './render.ts';
import { seedDocuments } from '../../test/render-kit.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function renderedOutbound(outbound: Any): Any {
  const docs = seedDocuments();
  const server = docs.find((d) => d.kind === 'MailServer') as Any;
  server.spec.outbound = { ...server.spec.outbound, ...outbound };
  const out = render(snapshotFromDocuments(docs).snapshot, { requirePkiSecrets: false });
  const v = validateConfig(structuredClone(out.servers[0].config));
  assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
  return v.config.outbound;
}

describe('operator/render: the polite client\'s settings', () => {
  it('passes concurrency, maxMessagesPerConnection and retry to the relay, the fields not given defaulted as the relay does', () => {
    const o = renderedOutbound({ concurrency: { perDestination: 4 }, maxMessagesPerConnection: 50, retry: { greylistSeconds: 120 } });
    assert.deepEqual(o.concurrency, { total: 100, perDestination: 4, initialPerDestination: 5 });
    assert.equal(o.maxMessagesPerConnection, 50);
    assert.deepEqual(o.retry, { minSeconds: 60, maxSeconds: 3600, greylistSeconds: 120 });
  });

  it('renders nothing of them when absent: the relay\'s defaults', () => {
    const o = renderedOutbound({});
    assert.deepEqual(o.concurrency, { total: 100, perDestination: 20, initialPerDestination: 5 });
    assert.equal(o.maxMessagesPerConnection, 100);
    assert.deepEqual(o.retry, { minSeconds: 60, maxSeconds: 3600, greylistSeconds: 300 });
  });

  it('refuses a value the relay would refuse, naming the field', () => {
    const server = seedDocuments().find((d) => d.kind === 'MailServer') as Any;
    server.spec.outbound = { ...server.spec.outbound, concurrency: { perDestination: 0 }, retry: { greylistSeconds: -1 } };
    const v = validateObject(server);
    assert.equal(v.ok, false);
    const problems = v.ok ? '' : v.problems.join('\n');
    assert.match(problems, /spec\.outbound\.concurrency\.perDestination/);
    assert.match(problems, /spec\.outbound\.retry\.greylistSeconds/);
  });
});
