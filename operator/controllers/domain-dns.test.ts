// The DNSEndpoint external-dns reads: one endpoint per name and type (two MX hosts are one endpoint with
// two targets), MX targets without the final dot, TXT targets as the record's whole text (not its strings).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { txtValue } from '../render/dns-records.ts';
import { endpointsOf } from './domain-dns.ts';

describe('operator/controllers/domain-dns: DNSEndpoint endpoints', () => {
  it('groups by name and type and writes targets as external-dns takes them', () => {
    const long = 'v=DKIM1; k=rsa; p=' + 'Q'.repeat(380);
    const eps = endpointsOf([
      { name: 'shop.example', type: 'MX', value: '10 a.shop.example.', purpose: 'mx' },
      { name: 'shop.example', type: 'MX', value: '10 b.shop.example.', purpose: 'mx' },
      { name: 'shop.example', type: 'TXT', value: txtValue('v=spf1 mx ~all'), purpose: 'spf' },
      { name: 'k._domainkey.shop.example', type: 'TXT', value: txtValue(long), purpose: 'dkim' },
    ], 300);
    assert.deepEqual(eps, [
      { dnsName: 'shop.example', recordType: 'MX', targets: ['10 a.shop.example', '10 b.shop.example'], recordTTL: 300 },
      { dnsName: 'shop.example', recordType: 'TXT', targets: ['v=spf1 mx ~all'], recordTTL: 300 },
      { dnsName: 'k._domainkey.shop.example', recordType: 'TXT', targets: [long], recordTTL: 300 },
    ]);
  });
});
