import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, hashScheme, verifyPassword } from './hash.ts';
import { python, run } from '../../test/harness.ts';

describe('relay/auth/hash', () => {
  it('produces bcrypt hashes that verify only the right password', async () => {
    const h = await hashPassword('correct horse', 4);
    assert.equal(hashScheme(h), 'bcrypt');
    assert.equal(await verifyPassword('correct horse', h), true);
    assert.equal(await verifyPassword('correct horsE', h), false);
  });

  it('verifies SHA-512 crypt ($6$) hashes as smtpctl encrypt writes them (made by Python crypt and openssl passwd -6)', async () => {
    const py = (await python("import crypt; print(crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_SHA512)))")).stdout.trim();
    const ossl = (await run('openssl', ['passwd', '-6', 's3cret'])).stdout.trim();
    for (const h of [py, ossl]) {
      assert.match(h, /^\$6\$/);
      assert.equal(await verifyPassword('s3cret', h), true, h);
      assert.equal(await verifyPassword('s3creT', h), false, h);
    }
  });

  it('verifies SHA-256 crypt ($5$) and rejects unknown schemes', async () => {
    const h = (await run('openssl', ['passwd', '-5', 'pw'])).stdout.trim();
    assert.equal(await verifyPassword('pw', h), true);
    assert.equal(await verifyPassword('pw', 'plaintext-pw'), false);
    assert.equal(await verifyPassword('pw', '$1$abc$def'), false);
  });
});
