// The SRS rewriter the onward agent uses for forwarded copies, built from outbound.srs and its key file,
// re-read when the file changes (a rotated Secret is picked up without restart).
import { readFile, stat } from 'node:fs/promises';
import type { OutboundConfig } from '../../config/schema.ts';
import { parseSrsKeys, Srs } from '../../lookup/srs.ts';

export class SrsKeys {
  private cached: { key: string; srs: Srs } | undefined;

  /** undefined without outbound.srs; throws when the key file cannot be read or holds no usable key. */
  async get(cfg: OutboundConfig['srs']): Promise<Srs | undefined> {
    if (!cfg) return undefined;
    const { mtimeMs } = await stat(cfg.keyFile);
    const key = JSON.stringify([cfg.keyFile, mtimeMs, cfg.domain, cfg.maxAgeDays]);
    if (this.cached?.key !== key) this.cached = { key, srs: new Srs(parseSrsKeys(await readFile(cfg.keyFile, 'utf8')), cfg.domain, cfg.maxAgeDays) };
    return this.cached.srs;
  }
}
