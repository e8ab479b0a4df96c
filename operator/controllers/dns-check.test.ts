// The DNS check against a real DNS server on loopback: each record found, missing or different, a DKIM
// key published as several strings read joined, and a resolver that fails says so instead of "missing".
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDns, type TestDns } from '../../test/dns-server.ts';
import { txtStrings, txtValue, type DnsRecord } from '../render/dns-records.ts';
import { checkRecords, describeCheck, makeResolver } from './dns-check.ts';

const dkimText = 'v=DKIM1; k=rsa; p=' + 'M'.repeat(392);
const records: DnsRecord[] = [
  { name: 'shop.example', type: 'MX', value: '10 mx.shop.example.', purpose: 'mx' },
  { name: 'shop.example', type: 'TXT', value: txtValue('v=spf1 mx ~all'), purpose: 'spf' },
  { name: 'k1._domainkey.shop.example', type: 'TXT', value: txtValue(dkimText), purpose: 'dkim' },
  { name: '_dmarc.shop.example', type: 'TXT', value: txtValue('v=DMARC1; p=none'), purpose: 'dmarc' },
];

describe('operator/controllers/dns-check', () => {
  let dns: TestDns;
  before(async () => {
    dns = await startDns({
      'shop.example': { mx: [[10, 'mx.shop.example']], txt: ['google-site-verification=x', 'v=spf1 mx ~all'] },
      'k1._domainkey.shop.example': { txt: [txtStrings(txtValue(dkimText))] },
      '_dmarc.shop.example': { txt: ['v=DMARC1;p=reject'] },
    });
  });
  after(() => dns?.close());

  it('finds what is published (a DKIM key in two strings, SPF among other TXT), names what is missing or different', async () => {
    const r = await checkRecords(records, makeResolver(dns.server));
    assert.deepEqual(r.found.map((x) => x.purpose), ['mx', 'spf', 'dkim']);
    assert.deepEqual(r.different.map((x) => [x.record.name, x.found]), [['_dmarc.shop.example', ['v=DMARC1;p=reject']]]);
    assert.equal(describeCheck(r, records.length), 'different: TXT _dmarc.shop.example (found "v=DMARC1;p=reject")');
    dns.zone['_dmarc.shop.example'] = { txt: ['v=DMARC1 ; p=none'] };
    delete dns.zone['k1._domainkey.shop.example'];
    const again = await checkRecords(records, makeResolver(dns.server));
    assert.equal(describeCheck(again, records.length), 'missing: TXT k1._domainkey.shop.example');
    dns.zone['k1._domainkey.shop.example'] = { txt: [txtStrings(txtValue(dkimText))] };
    assert.equal(describeCheck(await checkRecords(records, makeResolver(dns.server)), records.length), 'all 4 record(s) published');
  });

  it('reports a failing resolver as an error, not as missing records', async () => {
    dns.zone['shop.example'] = { servfail: true };
    const r = await checkRecords(records, makeResolver(dns.server));
    assert.match(r.error ?? '', /^MX shop\.example: ESERVFAIL/);
  });
});
