// What render emits is what the relay serves: the rendered config and table Secrets, written out as the
// pod would see them, loaded by the relay's own table loader and rules engine (relay/lookup), and asked
// where Listings 2–3's recipients go. Also with tables split across Secrets, and with a TLD wildcard.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../relay/config/index.ts';
import { loadTables } from '../../relay/lookup/tables.ts';
import { buildPolicy } from '../../relay/lookup/rules.ts';
import type { RecipientContext, RecipientDecision } from '../../relay/lookup/policy.ts';
import { render } from './render.ts';
import { Paths } from './relay-config.ts';
import { build, manyUsers, seedSnapshot, DEMO_HASH } from '../../test/render-kit.ts';
import type { Snapshot } from './snapshot.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The relay's view of one rendered MailServer: its tables from the Secrets' files, its RCPT policy. */
async function relayOf(snapshot: Snapshot) {
  const out = render(snapshot);
  const s = out.servers[0];
  assert.equal(s.held, false, s.problems.join('; '));
  const dir = mkdtempSync(join(tmpdir(), 'kubemta-relayview-'));
  dirs.push(dir);
  mkdirSync(join(dir, 'tables'));
  for (const m of s.manifests.filter((x) => x.kind === 'Secret')) {
    for (const [file, b64] of Object.entries(m.data as Record<string, string>)) writeFileSync(join(dir, 'tables', file), Buffer.from(b64, 'base64'));
  }
  const config = JSON.parse(JSON.stringify(s.config).replaceAll(Paths.tablesDir, join(dir, 'tables')));
  const v = validateConfig(config);
  assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
  const tables = await loadTables(v.config);
  const policy = buildPolicy(v.config, tables)!;
  const ctx: RecipientContext = { listener: 'inbound', clientAddress: '192.0.2.7', from: 'someone@elsewhere.test' };
  // the handshake (operator/controllers/rollout.ts): the relay reports what the operator's status says
  const status = out.verdicts.get(`MailServer/default/${s.server.metadata.name}`)!.status;
  assert.deepEqual([v.config.configHash, tables.digest], [status.configHash, status.tablesHash]);
  return {
    config: v.config,
    tables,
    where: async (rcpt: string): Promise<string[] | string> => {
      const d: RecipientDecision = await policy.decide(ctx, rcpt);
      if (d.kind === 'reject') return `${d.reply.code} ${d.reply.status}`;
      return d.route.map((r) => (r.kind === 'relay' ? `relay:${r.address}` : `${r.action}:${r.mailbox}`));
    },
  };
}

describe('operator/render → relay', () => {
  it('serves Listings 2–3 from the rendered seed: chains, catch-all, local parts on every brand domain, unknown users refused', async () => {
    const r = await relayOf(seedSnapshot());
    const mbox = (box: string) => [`domain-example-org:${box}`];
    assert.deepEqual(await r.where('max.muster@example.org'), mbox('max'));
    assert.deepEqual(await r.where('mm@example.org'), mbox('max'), 'a chain of three');
    assert.deepEqual(await r.where('whoever@example.org'), mbox('max'), 'catch-all → catchall → postmaster → max');
    for (const d of ['example.net', 'example.com', 'shop.example.net']) assert.deepEqual(await r.where(`max@${d}`), ['domain-brands:max'], d);
    assert.deepEqual(await r.where('moritz@example.com'), ['domain-brands:moritz'], 'Listing 3: moritz → moritz@example.com maps to itself, so it is final');
    assert.deepEqual(await r.where('moritz@example.org'), ['domain-brands:moritz'], 'Listing 2 forwards to example.net, where Listing 3 applies');
    assert.deepEqual(await r.where('nobody@example.net'), '550 5.1.1');
    assert.deepEqual(await r.where('max@example.co.uk'), '550 5.7.1', 'not ours: relaying denied');
    assert.equal(r.tables.credentials.get('auth-submission')!.get('max'), DEMO_HASH);
  });

  it('serves a MailDomain with a TLD wildcard (example.*) despite the warning', async () => {
    const snap = seedSnapshot();
    snap.mailDomains.push(build.domain('tld', { domains: ['example.*'], priority: 200 }));
    snap.virtualUsers.push(build.user('wild', { mailDomainRef: { name: 'tld' }, address: 'wild@example.shop', mailbox: 'wild' }));
    const r = await relayOf(snap);
    assert.deepEqual(await r.where('wild@example.shop'), ['domain-tld:wild']);
  });

  it('reads a table split across Secrets (tables.<name>.files) as one: every login and every user', async () => {
    const { users, secret } = manyUsers(12_000); // credentials ~1 MB: more than one Secret could hold whole
    const snap = seedSnapshot();
    snap.virtualUsers.push(...users);
    snap.secrets.push(secret);
    const r = await relayOf(snap);
    assert.ok((r.config.tables['auth-submission'].files ?? []).length > 1, 'split');
    const logins = r.tables.credentials.get('auth-submission')!;
    assert.equal(logins.size, 12_000 + 2);
    assert.equal(logins.get('user11999@example.org'), DEMO_HASH);
    // one changed user: the tables digest changes, the config (and its hash) does not
    users[5].spec.mailbox = 'elsewhere';
    const r2 = await relayOf(snap);
    assert.equal(r2.config.configHash, r.config.configHash);
    assert.notEqual(r2.tables.digest, r.tables.digest);
    assert.deepEqual(await r.where('user7@example.org'), ['domain-example-org:user7']);
    assert.deepEqual(await r.where('user11999@example.org'), ['domain-example-org:user11999']);
  });
});
