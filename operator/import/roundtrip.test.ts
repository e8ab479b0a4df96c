// The round trip the import exists for: smtpd.conf → kubemta objects → the operator's pure render → a relay
// config the relay validates (`kubemta check`, tables and all).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { KUBEMTA, run, tempDir, writeConfig } from '../../test/harness.ts';
import type { ServerRender } from '../render/render.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { FIXTURES, importFixture, localRelayConfig, renderDocs } from '../../test/import-kit.ts';

const cases: [string, string, Record<string, string>][] = [
  ['the seed (old grammar)', 'seed/smtpd.conf', {}],
  ['the seed (current grammar)', 'seed-current/smtpd.conf', { tablesDir: join(FIXTURES, 'seed') }],
  ['Debian\'s shipped smtpd.conf', 'debian/smtpd.conf', { hostname: 'mail.example.org' }],
];

function tablesOf(server: ServerRender): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of server.manifests) {
    if (m.kind !== 'Secret') continue;
    for (const [k, v] of Object.entries((m as unknown as { data: Record<string, string> }).data ?? {})) out.set(k, Buffer.from(v, 'base64').toString());
  }
  return out;
}

describe('operator/import round trip', () => {
  for (const [what, fixture, opts] of cases) {
    it(`${what}: renders without problems to a relay config that kubemta check accepts`, async () => {
      const imported = importFixture(fixture, opts);
      const { servers, problems } = renderDocs(imported.docs.map((d) => d.doc));
      assert.deepEqual(problems, []);
      assert.equal(servers.length, 1);
      assert.equal(servers[0].held, false, servers[0].problems.join('\n'));
      const { dir, cleanup } = await tempDir('kubemta-import-rt-');
      try {
        const file = await writeConfig(dir, await localRelayConfig(servers[0], dir));
        const check = await run(KUBEMTA, ['check', '--config', file]);
        assert.equal(check.code, 0, check.stdout + check.stderr);
        assert.match(check.stdout, /: ok \(\d listener/);
      } finally {
        await cleanup();
      }
    });
  }

  it('the seed renders the same relay rules and tables as the hand-written example', async () => {
    const mineServer = renderDocs(importFixture('seed/smtpd.conf').docs.map((d) => d.doc)).servers[0];
    const theirServer = renderDocs(seedDocuments()).servers[0];
    const [mine, theirs] = [mineServer.config!, theirServer.config!];
    // the example lets authenticated sessions relay (relayFrom.authenticated); the seed relays what is tagged remote
    assert.deepEqual(mine.rules?.map((r) => r.name), theirs.rules?.filter((r) => r.name !== 'relay-authenticated').map((r) => r.name?.replace('brands', 'domains')));
    assert.deepEqual(mine.listeners, theirs.listeners);
    assert.deepEqual(mine.pki, theirs.pki);
    const [a, b] = [tablesOf(mineServer), tablesOf(theirServer)];
    for (const [m, t] of [['aliases', 'aliases'], ['virtual-example-org', 'virtual-example-org'], ['virtual-domains', 'virtual-brands'], ['domains-domains', 'domains-brands']]) {
      assert.equal(a.get(m), b.get(t), m);
    }
    // the example adds a login for max.muster@example.org; the seed's credentials are max's alone
    assert.equal(a.get('auth-submission'), b.get('auth-submission')!.split('\n').filter((l) => !l.startsWith('max.muster@')).join('\n'));
  });
});
