// `kubemta import` as a user runs it: YAML on stdout that `kubemta render` takes, findings on stderr and
// in the output's header, exit 2 with file:line:column on a syntax error, exit 1 on a missing table.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import * as yaml from 'js-yaml';
import { KUBEMTA, run, tempDir } from '../test/harness.ts';

const SEED = 'test/fixtures/smtpd/seed/smtpd.conf';

describe('cli import', () => {
  it('prints the objects as YAML documents, findings on stderr and as comments on top; render takes the output', async () => {
    const r = await run(KUBEMTA, ['import', SEED, '--namespace', 'mail']);
    assert.equal(r.code, 0, r.stderr);
    const docs = yaml.loadAll(r.stdout) as { kind: string; metadata: { namespace: string } }[];
    assert.deepEqual([...new Set(docs.map((d) => d.kind))], ['MailServer', 'PkiCert', 'Secret', 'Listener', 'MailDomain', 'VirtualUser']);
    assert.ok(docs.every((d) => d.metadata.namespace === 'mail'));
    const stderr = r.stderr.trim().split('\n');
    assert.equal(stderr.length, 5);
    assert.match(stderr[4], /^smtpd\.conf:13: changed: listen on inet4 port 25 hostname local\.example\.org: no interface/);
    for (const line of stderr) assert.ok(r.stdout.includes(`#   ${line}\n`), line);
    assert.match(r.stdout, /^# kubemta import of smtpd\.conf: MailServer "post", 16 objects\./);

    const { dir, cleanup } = await tempDir('kubemta-import-cli-');
    const out = join(dir, 'post.yaml');
    await writeFile(out, r.stdout);
    const rendered = await run(KUBEMTA, ['render', '-f', out, '-n', 'mail', '--config-only']);
    await cleanup();
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.match(rendered.stdout, /^# MailServer mail\/post: relay\.yaml$/m);
    assert.match(rendered.stdout, /name: domain-example-org\n\s+from: any\n\s+for:\n\s+domain: example\.org\n\s+virtual: virtual-example-org/);
  });

  it('exits 2 on a syntax error (file:line:column) and on bad arguments, 1 on a missing table', async () => {
    const { dir, cleanup } = await tempDir('kubemta-import-cli-');
    try {
      const bad = join(dir, 'smtpd.conf');
      await writeFile(bad, 'table aliases file:/etc/aliases\nlisten on all port 25 tls-maybe\n');
      const syntax = await run(KUBEMTA, ['import', bad]);
      assert.equal(syntax.code, 2);
      assert.equal(syntax.stderr, 'smtpd.conf:2:23: unknown listen option "tls-maybe"\n');
      assert.equal(syntax.stdout, '');
      assert.equal((await run(KUBEMTA, ['import'])).code, 2);
      assert.equal((await run(KUBEMTA, ['import', SEED, '--frob'])).code, 2);
      const missing = await run(KUBEMTA, ['import', SEED, '--tables-dir', dir]);
      assert.equal(missing.code, 1);
      assert.match(missing.stderr, /smtpd\.conf:10: table "remote" \(db:\/etc\/smtpd_remote\.db\): its source .*\/smtpd_remote is not there/);
    } finally {
      await cleanup();
    }
  });
});
