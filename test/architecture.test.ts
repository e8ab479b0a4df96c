// Dependencies point one way: cli → operator → relay, and inside the relay nothing imports back up into
// smtp/ (the server side): lookup, queue, scheduler and delivery share what they need with it through
// relay/protocol/ (replies, line ends, dates). A test, so that a wrong-way import fails where it is added.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

function sources(dir: string): string[] {
  return readdirSync(join(ROOT, dir)).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(join(ROOT, path)).isDirectory()) return name === 'node_modules' ? [] : sources(path);
    return /\.ts$/.test(name) && !/\.test\.ts$/.test(name) ? [path] : [];
  });
}

/** Every relative import of a file, as a path from the repository root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/^(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/gms)].map((m) => relative(ROOT, resolve(ROOT, dirname(file), m[1])));
}

function violations(from: string[], forbidden: string[]): string[] {
  const found: string[] = [];
  for (const dir of from) for (const f of sources(dir)) for (const i of importsOf(f)) if (forbidden.some((p) => i.startsWith(p))) found.push(`${f} → ${i}`);
  return found;
}

describe('architecture: dependencies point one way', () => {
  it('relay imports neither the operator nor the CLI; the operator does not import the CLI', () => {
    assert.deepEqual(violations(['relay'], ['operator/', 'cli/']), []);
    assert.deepEqual(violations(['operator'], ['cli/']), []);
  });

  it("the operator and the CLI reach the relay's config only through relay/config/index.ts", () => {
    const inner = violations(['operator', 'cli'], ['relay/config/']).filter((v) => !v.endsWith('→ relay/config/index.ts'));
    assert.deepEqual(inner, []);
  });

  it('the Kubernetes transport (operator/kube) knows no CRD kind', () => {
    assert.deepEqual(violations(['operator/kube'], ['operator/api/', 'operator/controllers/', 'operator/render/']), []);
  });

  it('shipped code imports no test support (test kits live in test/, which the image leaves out)', () => {
    assert.deepEqual(violations(['relay', 'operator', 'cli'], ['test/', 'e2e/']), []);
  });

  it('inside the relay, nothing below the server imports relay/smtp/', () => {
    assert.deepEqual(violations(['relay/lookup', 'relay/queue', 'relay/scheduler', 'relay/deliver', 'relay/protocol', 'relay/auth', 'relay/config', 'relay/intake'], ['relay/smtp/']), []);
  });
});
