// Reading a queued message's header block without reading its body: DKIM needs the From: domain, a
// bounce quotes the original headers. Stops at the first empty line (or `max` bytes) and closes the file.
import type { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';

export async function readHeaderBlock(content: Readable, max = 256 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of content as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end >= 0) return all.subarray(0, end + 2);
      if (size >= max) return all.subarray(0, max);
    }
    return Buffer.concat(chunks);
  } finally {
    content.destroy();
  }
}

/** The value of the first `name:` field, unfolded; undefined when absent. */
export function headerValue(block: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r?\\n[ \\t].*)*)`, 'im');
  const m = re.exec(block);
  return m ? m[1].replace(/\r?\n[ \t]+/g, ' ').trim() : undefined;
}

/** The domain of the (first) From: address, lowercased. */
export function fromHeaderDomain(block: string): string | undefined {
  const value = headerValue(block, 'From');
  if (!value) return undefined;
  const first = addressparser(value, { flatten: true })[0];
  const at = first?.address?.lastIndexOf('@') ?? -1;
  return at > 0 ? first.address.slice(at + 1).toLowerCase() : undefined;
}
