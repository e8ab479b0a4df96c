// `kubemta render -f` (cli/render.ts) is the same render() the operator runs: the program's output for the
// seed is the golden file, problems go to stderr naming the field, and the exit status says whether all
// objects were good.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { SEED_DIR } from '../../test/render-kit.ts';

const KUBEMTA = new URL('../../bin/kubemta', import.meta.url).pathname;
const GOLDEN = new URL('./testdata/seed.yaml', import.meta.url).pathname;

function kubemta(args: string[]) {
  const r = spawnSync(KUBEMTA, args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The seed plus more objects, as `-f` arguments (a second file). */
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function seedWith(docs: object[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'kubemta-render-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'extra.yaml'), docs.map((d) => `---\n${yaml.dump(d)}`).join(''));
  return ['-f', SEED_DIR, '-f', join(dir, 'extra.yaml')];
}

describe('kubemta render', () => {
  it('prints the manifests the operator would apply for the seed, exactly the golden file, and exits 0', () => {
    const r = kubemta(['render', '-f', SEED_DIR]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(GOLDEN, 'utf8'));
  });

  it('--config-only prints the relay config', () => {
    const r = kubemta(['render', '-f', SEED_DIR, '--config-only']);
    assert.equal(r.code, 0, r.stderr);
    const config = yaml.load(r.stdout.replace(/^---\n/, '')) as { hostname: string; listeners: unknown[] };
    assert.equal(config.hostname, 'post.example.org');
    assert.equal(config.listeners.length, 3);
  });

  it('-f - reads the objects from stdin, also when stdin is a pipe of a child process', () => {
    const input = ['listing1.yaml', 'listing2.yaml', 'listing3.yaml'].map((f) => readFileSync(join(SEED_DIR, f), 'utf8')).join('\n---\n');
    const r = spawnSync(KUBEMTA, ['render', '-f', '-'], { input, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(GOLDEN, 'utf8'));
  });

  it('names a bad object\'s field on stderr and exits 1; warns about a TLD wildcard without failing', () => {
    const again = { apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'again', creationTimestamp: '2030-01-01T00:00:00Z' }, spec: { mailServerRef: { name: 'post' }, port: 587 } };
    const bad = kubemta(['render', ...seedWith([again])]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Listener\/default\/again: PortConflict: spec\.port: port 587 of Service "post" is already used by Listener "submission"$/m);
    const wild = { apiVersion: 'kubemta.io/v1alpha1', kind: 'MailDomain', metadata: { name: 'tld' }, spec: { mailServerRef: { name: 'post' }, domains: ['example.*'], priority: 200 } };
    const ok = kubemta(['render', ...seedWith([wild])]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, /^MailDomain\/default\/tld: warning: spec\.domains: "example\.\*" is a wildcard top-level domain/m);
  });
});
