// A DKIM key that cannot sign is named the same way everywhere (selector, domain, file; never the key):
// by `kubemta check`, by a reload (refused, the last good config keeps serving), and in the deferral of a
// mail when the file goes bad under a running relay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, KUBEMTA, run, startTestRelay, tempDir, writeConfig } from '../../test/harness.ts';
import { startSink, type TestSink } from '../../test/smtp-sink.ts';
import { injectMail } from '../../test/inject.ts';
import { until } from '../../test/until.ts';

// not a key: a PEM block of random bytes, made at run time from a real key's armour (no key in the source)
const SECRET = randomBytes(24).toString('hex');
const garbage = (generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string).replace(/\n[A-Za-z0-9+/=\n]+\n/, `\n${SECRET}\n`);

describe('relay/deliver/dkim: an unusable key is named, never shown', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let sink: TestSink;
  const good = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    sink = await startSink();
  });
  after(async () => {
    await sink.close();
    await cleanup();
  });

  const config = (keyFile: string) => baseConfig({ outbound: { smarthost: `smtp://127.0.0.1:${sink.port}`, tls: 'none', retry: { minSeconds: 0.3, maxSeconds: 0.5 }, dkim: [{ domain: 'signed.test', selector: 'sel1', keyFile }] } });

  it('kubemta check refuses a key file that is no PEM key, of the wrong type, or missing, naming selector, domain and file', async () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    await writeFile(join(dir, 'garbage.key'), garbage);
    await writeFile(join(dir, 'ec.key'), ec);
    const cases: [string, RegExp][] = [
      ['garbage.key', /not a PEM private key/],
      ['ec.key', /must be RSA or Ed25519, not ec/],
      ['missing.key', /no such file/],
    ];
    for (const [file, why] of cases) {
      const cfg = await writeConfig(dir, config(file), `check-${file}.yaml`);
      const r = await run(KUBEMTA, ['check', '--config', cfg]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, new RegExp(`^outbound\\.dkim\\[0\\]\\.keyFile: DKIM key of selector sel1 for signed\\.test \\(${join(dir, file).replace(/[./]/g, '\\$&')}\\) is unusable: `, 'm'));
      assert.match(r.stdout, why);
      assert.doesNotMatch(r.stdout + r.stderr, new RegExp(SECRET.slice(0, 12)), 'the key material is never printed');
    }
  });

  it('a running relay defers with the named key when the file goes bad, and refuses a reload to it', async () => {
    await writeFile(join(dir, 'live.key'), good);
    const t = await startTestRelay(dir, config('live.key'));
    try {
      await writeFile(join(dir, 'live.key'), garbage);
      const id = await injectMail(t.relay, { from: 'a@signed.test', to: ['x@far.test'] });
      await until('a deferred attempt', () => (t.relay.relay.queue.get(id)?.state.recipients[0].attempts ?? 0) >= 1, 5000);
      const err = t.relay.relay.queue.get(id)!.state.recipients[0].lastError ?? '';
      assert.match(err, /^4\.3\.0 DKIM key of selector sel1 for signed\.test \(.*live\.key\) is unusable: not a PEM private key/);
      assert.doesNotMatch(err, new RegExp(SECRET.slice(0, 12)));
      assert.equal(sink.received.length, 0, 'nothing sent unsigned');
      assert.equal(await t.relay.reload(), false, 'a reload with the bad key is refused');
      await writeFile(join(dir, 'live.key'), good);
      await until('delivery once the key is good again', () => sink.received.length === 1, 5000);
      assert.match(sink.received[0].data.toString(), /^DKIM-Signature: [^]*?\bs=sel1;/m);
    } finally {
      await t.relay.stop();
    }
  });
});
