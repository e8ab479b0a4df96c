// TLS cipher policy through a real client (openssl s_client over STARTTLS): by default only Mozilla's
// "intermediate" forward-secret suites; `tls.ciphers` in the config overrides it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, run, startTestRelay, tempDir } from '../../test/harness.ts';

/** Whether a TLS 1.2 (or 1.3) handshake with these client suites completes over STARTTLS. */
async function handshake(port: number, args: string[]): Promise<{ ok: boolean; out: string }> {
  const r = await run('sh', ['-c', `printf 'QUIT\\r\\n' | openssl s_client -starttls smtp -connect 127.0.0.1:${port} -servername post.example.org ${args.join(' ')} 2>&1`], { timeoutMs: 15000 });
  // a completed handshake names its cipher; a refused one says "Cipher is (NONE)" or fails outright
  const cipher = /Cipher is (\S+)/.exec(r.stdout)?.[1];
  return { ok: !!cipher && cipher !== '(NONE)', out: r.stdout };
}

const listeners = [{ name: 'inbound', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post', hostname: 'post.example.org' }];

describe('TLS cipher policy (openssl s_client)', () => {
  const stops: (() => Promise<void>)[] = [];
  let strict: number;
  let overridden: number;
  before(async () => {
    const a = await tempDir();
    stops.push(a.cleanup);
    const ta = await startTestRelay(a.dir, baseConfig({ listeners }));
    stops.push(() => ta.relay.stop());
    strict = ta.port('inbound');
    const b = await tempDir();
    stops.push(b.cleanup);
    const tb = await startTestRelay(b.dir, baseConfig({ listeners, tls: { ciphers: 'AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256' } }));
    stops.push(() => tb.relay.stop());
    overridden = tb.port('inbound');
  });
  after(async () => {
    for (const s of stops.reverse()) await s().catch(() => {});
  });

  it('refuses TLS 1.2 RSA key exchange and CBC suites by default, takes ECDHE-GCM and TLS 1.3', async () => {
    for (const weak of ['AES128-SHA', 'AES256-GCM-SHA384', 'ECDHE-RSA-AES128-SHA', 'ECDHE-RSA-AES256-SHA384']) {
      const r = await handshake(strict, ['-tls1_2', '-cipher', weak]);
      assert.equal(r.ok, false, `${weak} accepted:\n${r.out}`);
    }
    const fs = await handshake(strict, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES128-GCM-SHA256']);
    assert.equal(fs.ok, true, fs.out);
    const v13 = await handshake(strict, ['-tls1_3']);
    assert.equal(v13.ok, true, v13.out);
    assert.equal((await handshake(strict, ['-tls1_1'])).ok, false);
  });

  it('lets tls.ciphers in the config override the profile', async () => {
    const r = await handshake(overridden, ['-tls1_2', '-cipher', 'AES128-SHA']);
    assert.equal(r.ok, true, r.out);
    assert.equal((await handshake(overridden, ['-tls1_2', '-cipher', 'ECDHE-RSA-AES256-GCM-SHA384'])).ok, false);
  });
});
