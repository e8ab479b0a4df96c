// Resolution cost (`node bench/resolution.ts`): load a 100,000-entry virtual table and a 100,000-pattern
// domain list (a third exact names, a third `*.brandN.com`, a third `brandN.*`) from files as the relay
// does, then resolve 100,000 recipients through the rules. Prints load times and µs per RCPT decision.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { loadConfig } from '../relay/config/load.ts';
import { buildPolicy } from '../relay/lookup/rules.ts';
import { loadTables } from '../relay/lookup/tables.ts';

const N = Number(process.env.ENTRIES ?? 100_000);
const dir = await mkdtemp(join(tmpdir(), 'kubemta-resolution-'));
try {
  const virt: string[] = [];
  for (let i = 0; i < N; i++) virt.push(`user${i}@example.org\tmbox${i % 1000}`);
  const doms: string[] = [];
  for (let i = 0; i < N; i++) doms.push(i % 3 === 0 ? `brand${i}.com` : i % 3 === 1 ? `*.brand${i}.com` : `brand${i}.*`);
  await writeFile(join(dir, 'virtual'), virt.join('\n') + '\n');
  await writeFile(join(dir, 'domains'), doms.join('\n') + '\n');
  await writeFile(join(dir, 'users'), 'max\tmax\n');
  await writeFile(
    join(dir, 'relay.yaml'),
    yaml.dump({
      hostname: 'bench.test',
      listeners: [{ name: 'in', address: '127.0.0.1', port: 0 }],
      tables: { virtual: { type: 'virtual', file: 'virtual' }, domains: { type: 'domains', file: 'domains' }, users: { type: 'virtual', file: 'users' } },
      actions: { mbox: { type: 'mbox' } },
      rules: [
        { from: 'any', for: { domain: 'example.org' }, virtual: 'virtual', action: 'mbox' },
        { from: 'any', for: { domains: 'domains' }, virtual: 'users', action: 'mbox' },
      ],
    }),
  );
  const { config } = loadConfig(join(dir, 'relay.yaml'));
  const heap0 = process.memoryUsage().heapUsed;
  let t = performance.now();
  const tables = await loadTables(config);
  const loadMs = performance.now() - t;
  const heapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  t = performance.now();
  const policy = buildPolicy(config, tables)!;
  const buildMs = performance.now() - t;
  const ctx = { listener: 'in', clientAddress: '192.0.2.1', from: 'a@b.test' };
  const measure = async (make: (i: number) => string): Promise<number> => {
    let accepted = 0;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) if ((await policy.decide(ctx, make(i))).kind === 'accept') accepted++;
    if (accepted !== N) throw new Error(`only ${accepted} of ${N} accepted`);
    return ((performance.now() - t0) * 1000) / N;
  };
  const virtualUs = await measure((i) => `user${(i * 7919) % N}@example.org`);
  const wildcardUs = await measure((i) => {
    const j = (i * 7919) % N;
    return j % 3 === 0 ? `max@brand${j}.com` : j % 3 === 1 ? `max@mail.eu.brand${j}.com` : `max@brand${j}.co.uk`;
  });
  const result = {
    entries: N,
    tablesLoadMs: +loadMs.toFixed(0),
    heapMb: +heapMb.toFixed(0),
    policyBuildMs: +buildMs.toFixed(1),
    usPerRcpt: { virtualExact: +virtualUs.toFixed(2), wildcardDomains: +wildcardUs.toFixed(2) },
  };
  console.log(`load ${result.tablesLoadMs} ms for ${N} virtual entries + ${N} domain patterns; ${result.usPerRcpt.virtualExact} µs/RCPT (virtual), ${result.usPerRcpt.wildcardDomains} µs/RCPT (wildcard domains)`);
  console.log(JSON.stringify(result));
} finally {
  await rm(dir, { recursive: true, force: true });
}
