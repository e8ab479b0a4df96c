import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ContentScanner, MAX_LINE, scanContent, type ContentFacts } from './content-facts.ts';

/** The plain definition, on the whole message at once: what the scanner must find in any chunking. */
function reference(msg: Buffer): ContentFacts {
  const text = msg.toString('latin1');
  const split = ('\r\n' + text).indexOf('\r\n\r\n');
  const headerEnd = split < 0 ? msg.length : split + 2;
  const eight = (b: Buffer) => b.some((x) => x > 0x7f);
  return {
    eightBitHeader: eight(msg.subarray(0, headerEnd)),
    eightBitBody: eight(msg.subarray(headerEnd)),
    longLines: text.split('\r\n').some((l) => l.length > MAX_LINE),
  };
}

function scanIn(msg: Buffer, sizes: () => number): ContentFacts {
  const s = new ContentScanner();
  for (let i = 0; i < msg.length; ) {
    const n = sizes();
    s.feed(msg.subarray(i, i + n));
    i += n;
  }
  return s.facts;
}

/** A deterministic generator, so a failure names a case that can be run again. */
function rng(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x % n;
  };
}

function message(r: (n: number) => number): Buffer {
  const line = (max: number) => {
    const len = r(60) === 0 ? MAX_LINE - 2 + r(5) : r(max);
    const bytes = Buffer.alloc(len, 0x61);
    if (len && r(12) === 0) bytes[r(len)] = 0xe9;
    return bytes;
  };
  const parts: Buffer[] = [];
  for (let i = 1 + r(6); i > 0; i--) parts.push(Buffer.from('X-H: '), line(r(40) === 0 ? 1200 : 60), Buffer.from('\r\n'));
  parts.push(Buffer.from('\r\n'));
  for (let i = r(60); i > 0; i--) parts.push(line(r(80) === 0 ? 2500 : 90), Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

describe('relay/protocol/content-facts', () => {
  it('finds the same facts as the plain definition, for 3,000 generated messages in random chunkings', () => {
    const r = rng(7);
    const seen = { eightBitHeader: 0, eightBitBody: 0, longLines: 0 };
    for (let c = 0; c < 3000; c++) {
      const msg = message(r);
      const want = reference(msg);
      for (const k of Object.keys(seen) as (keyof ContentFacts)[]) if (want[k]) seen[k]++;
      const chunk = [1, 7, 999, 1000, 1001, 65536][r(6)];
      assert.deepEqual(scanIn(msg, () => 1 + r(chunk)), want, `case ${c}, chunks up to ${chunk}`);
      assert.deepEqual(scanIn(msg, () => msg.length), want, `case ${c}, whole`);
    }
    // the generator covers every fact both ways, or the comparison above proves little
    for (const [k, n] of Object.entries(seen)) assert.ok(n > 100 && n < 2900, `${k}: ${n} of 3000`);
  });

  it('counts the limit exactly: 998 octets and CRLF pass, 999 do not, in the header and in the body, across chunk seams', () => {
    const at = (n: number, where: 'header' | 'body') =>
      where === 'header' ? Buffer.from('X-A: ' + 'k'.repeat(n - 5) + '\r\n\r\nbody\r\n') : Buffer.from('S: x\r\n\r\n' + 'k'.repeat(n) + '\r\n');
    for (const where of ['header', 'body'] as const) {
      for (const size of [1, 2, 500, 998, 999, 1000, 1001, 4096]) {
        assert.equal(scanIn(at(998, where), () => size).longLines, false, `${where} 998 in chunks of ${size}`);
        assert.equal(scanIn(at(999, where), () => size).longLines, true, `${where} 999 in chunks of ${size}`);
      }
    }
  });

  it('scans a stream the same way (a mail recovered after a restart)', async () => {
    const msg = Buffer.from('Subject: \xc3\xa9\r\n\r\n' + 'k'.repeat(1200) + '\r\n', 'latin1');
    async function* chunks() {
      for (let i = 0; i < msg.length; i += 100) yield msg.subarray(i, i + 100);
    }
    assert.deepEqual(await scanContent(chunks()), { eightBitHeader: true, eightBitBody: false, longLines: true });
  });
});
