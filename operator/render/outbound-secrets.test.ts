// The smarthost password and DKIM keys a MailServer names: a missing Secret holds the server in the
// operator (the pod would wait for its volume), a DKIM key the relay cannot sign with is named by field,
// and neither ever shows the Secret's content.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { render } from './render.ts';
import { seedSnapshot, withOperatorDkimKeys } from '../../test/render-kit.ts';
import type { Snapshot } from './snapshot.ts';

function withDkim(key: string | null): Snapshot {
  const s = withOperatorDkimKeys(seedSnapshot());
  s.mailServers[0].spec.outbound = {
    ...s.mailServers[0].spec.outbound,
    smarthost: 'smtp://smarthost.example.net:587',
    smarthostAuth: { username: 'relay', passwordSecretRef: { name: 'smarthost', key: 'password' } },
    dkim: [{ domain: 'example.org', selector: 'k1', privateKeySecretRef: { name: 'dkim', key: 'private.key' } }],
  } as never;
  // the PkiCerts' Secrets, as the operator would have issued them: only the outbound ones are under test
  for (const name of ['post-tls', 'mail-tls']) s.secrets.push({ metadata: { name }, data: { 'tls.crt': Buffer.from('x'), 'tls.key': Buffer.from('x') } });
  s.secrets.push({ metadata: { name: 'smarthost' }, data: { password: Buffer.from('hunter2-smarthost') } });
  if (key !== null) s.secrets.push({ metadata: { name: 'dkim' }, data: { 'private.key': Buffer.from(key) } });
  return s;
}

const verdict = (s: Snapshot, requirePkiSecrets: boolean) => render(s, { requirePkiSecrets }).verdicts.get('MailServer/default/post')!;

describe('operator/render: outbound Secrets', () => {
  it('takes an Ed25519 or RSA DKIM key', () => {
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    assert.equal(verdict(withDkim(ed), true).ready, true, verdict(withDkim(ed), true).message);
  });

  it('holds the server for a missing DKIM Secret in the operator, naming the field; offline render goes on', () => {
    const v = verdict(withDkim(null), true);
    assert.equal(v.ready, false);
    assert.equal(v.reason, 'SecretNotFound');
    assert.match(v.message, /spec\.outbound\.dkim\[0\]\.privateKeySecretRef: no Secret "dkim" with key "private\.key"/);
    assert.equal(verdict(withDkim(null), false).ready, true);
  });

  it('refuses a DKIM key the relay cannot sign with, without showing it', () => {
    const secret = 'not-a-key-but-a-secret-string';
    const v = verdict(withDkim(secret), false);
    assert.equal(v.ready, false);
    assert.equal(v.reason, 'InvalidSpec');
    assert.match(v.message, /spec\.outbound\.dkim\[0\]\.privateKeySecretRef: Secret "dkim" key "private\.key": not a PEM private key/);
    assert.ok(!v.message.includes(secret));
  });

  it('holds the server for a missing smarthost password Secret', () => {
    const s = withDkim(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    s.secrets = s.secrets.filter((x) => x.metadata.name !== 'smarthost');
    const v = verdict(s, true);
    assert.equal(v.reason, 'SecretNotFound');
    assert.match(v.message, /spec\.outbound\.smarthostAuth\.passwordSecretRef: no Secret "smarthost" with key "password"/);
  });
});
