import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateMx } from 'mailauth/lib/mta-sts.js';
import { applyStsPolicy } from './mta-sts.ts';

const hops = [
  { host: 'mx1.example.net', preference: 10, addresses: ['192.0.2.1'] },
  { host: 'backup.elsewhere.test', preference: 20, addresses: ['192.0.2.2'] },
];

describe('relay/deliver/smtp/mta-sts', () => {
  it('enforce: keeps only the MX hosts the policy lists (wildcards as RFC 8461 defines them)', () => {
    const d = applyStsPolicy({ mode: 'enforce', mx: ['*.example.net'] }, hops, validateMx);
    assert.deepEqual(d.kind === 'enforce' && d.hops.map((h) => h.host), ['mx1.example.net']);
  });

  it('enforce with no listed MX: nothing to deliver to (the caller defers)', () => {
    assert.deepEqual(applyStsPolicy({ mode: 'enforce', mx: ['mail.other.test'] }, hops, validateMx), { kind: 'nomatch', mx: ['mx1.example.net', 'backup.elsewhere.test'] });
  });

  it('testing only reports mismatches; none changes nothing', () => {
    assert.deepEqual(applyStsPolicy({ mode: 'testing', mx: ['mx1.example.net'] }, hops, validateMx), { kind: 'testing', mismatched: ['backup.elsewhere.test'] });
    assert.deepEqual(applyStsPolicy({ mode: 'none' }, hops, validateMx), { kind: 'none' });
  });
});
