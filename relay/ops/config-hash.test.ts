// The config handshake: the relay reports the configHash of the config it serves, so the operator can
// tell that what it rendered is what runs. A refused reload keeps reporting the old one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, startTestRelay, tempDir, writeConfig } from '../../test/harness.ts';
import { CONFIG_HASH_HEADER, TABLES_HASH_HEADER } from './http.ts';

describe('relay/ops config hash', () => {
  it('reports the served configHash (and tables digest) on /readyz and /healthz, follows a reload, and keeps it when a reload is refused', async () => {
    const { dir, cleanup } = await tempDir();
    const config = baseConfig({ configHash: 'aaa111' });
    const t = await startTestRelay(dir, config);
    const base = `http://127.0.0.1:${t.relay.httpPort}`;
    const served = async (path = '/readyz') => (await fetch(`${base}${path}`)).headers.get(CONFIG_HASH_HEADER);
    assert.equal(await served(), 'aaa111');
    assert.equal(await served('/healthz'), 'aaa111');
    assert.match((await fetch(`${base}/readyz`)).headers.get(TABLES_HASH_HEADER) ?? '', /^[0-9a-f]{16}$/, 'the digest of the tables it loaded');
    await writeConfig(dir, { ...config, configHash: 'bbb222' });
    assert.equal(await t.relay.reload(), true);
    assert.equal(await served(), 'bbb222');
    await writeConfig(dir, { ...config, configHash: 'ccc333', listeners: [] }); // invalid: refused
    assert.equal(await t.relay.reload(), false);
    assert.equal(await served(), 'bbb222');
    await writeConfig(dir, { ...config, configHash: undefined });
    assert.equal(await t.relay.reload(), true);
    assert.equal(await served(), null); // a config without one (not rendered by the operator): no header
    await t.relay.stop();
    await cleanup();
  });
});
