// MailServer.spec.outbound.dane and .hostLookup: rendered into the relay's outbound section (validated by the
// relay's schema and cross-checks); an IP-literal smarthost of the wrong family holds the server, naming the field.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crossCheck, validateConfig } from '../../relay/config/index.ts';
import { render } from './render.ts';
import { seedSnapshot } from '../../test/render-kit.ts';

type Outbound = Record<string, unknown>;

function rendered(outbound: Outbound) {
  const s = seedSnapshot();
  s.mailServers[0].spec.outbound = { ...s.mailServers[0].spec.outbound, ...outbound } as never;
  const out = render(s);
  assert.equal(out.servers.length, 1);
  return out.servers[0];
}

describe('operator/render: spec.outbound.dane and hostLookup', () => {
  it('passes dane and hostLookup to the relay, which accepts them', () => {
    const server = rendered({ dane: true, hostLookup: ['dns', 'native'], smarthost: 'smtp://relay.mail:25' });
    assert.equal(server.held, false, server.problems.join('; '));
    const v = validateConfig(structuredClone(server.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.deepEqual(crossCheck(v.config), []);
    assert.equal(v.config.outbound.dane, true);
    assert.deepEqual(v.config.outbound.hostLookup, ['dns', 'native']);
  });

  it('leaves both out when unset: the relay\'s defaults (no DANE, native lookups), the rendered config unchanged', () => {
    const config = rendered({}).config as { outbound: Outbound };
    assert.equal('dane' in config.outbound, false);
    assert.equal('hostLookup' in config.outbound, false);
  });

  it('holds the server when an IP-literal smarthost is not of spec.outbound.family', () => {
    const server = rendered({ family: 'inet4', smarthost: 'smtp://[2001:db8::25]:25' });
    assert.equal(server.held, true);
    assert.match(server.problems.join('; '), /outbound\.smarthost: 2001:db8::25 is an IPv6 address and outbound\.family is inet4/);
  });
});
