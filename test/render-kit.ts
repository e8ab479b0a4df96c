// Builders for test objects and the seed snapshot (examples/seed/k8s/), shared by unit and cluster tests.
import { readFileSync, readdirSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { generateKeyPairSync } from 'node:crypto';
import { secretFromDocument, snapshotFromDocuments } from '../operator/render/documents.ts';
import { dkimSecretManifest, type DkimKey } from '../operator/render/dkim-keys.ts';
import type { Snapshot } from '../operator/render/snapshot.ts';
import type { MailServer } from '../operator/api/mailserver.ts';
import type { Listener } from '../operator/api/listener.ts';
import type { MailDomain } from '../operator/api/maildomain.ts';
import type { VirtualUser } from '../operator/api/virtualuser.ts';
import type { PkiCert } from '../operator/api/pkicert.ts';

export const SEED_DIR = new URL('../examples/seed/k8s/', import.meta.url).pathname;
export const DEMO_HASH = '$2b$10$r47TQpDWi53asfXX6R9equ9C2KR1G8SMTx/t4V7WlEmLZDdMWo9qe';

export function seedDocuments(): Record<string, unknown>[] {
  return readdirSync(SEED_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .flatMap((f) => yaml.loadAll(readFileSync(SEED_DIR + f, 'utf8')) as Record<string, unknown>[]);
}

export function seedSnapshot(): Snapshot {
  return snapshotFromDocuments(seedDocuments()).snapshot;
}

const api = 'kubemta.io/v1alpha1';
type Spec<T extends { spec: unknown }> = Partial<T['spec']>;

export const build = {
  server: (name: string, spec: Spec<MailServer> = {}): MailServer =>
    ({ apiVersion: api, kind: 'MailServer', metadata: { name }, spec: { hostname: `${name}.example.org`, ...spec } }) as MailServer,
  listener: (name: string, spec: Spec<Listener> = {}): Listener =>
    ({ apiVersion: api, kind: 'Listener', metadata: { name }, spec: { mailServerRef: { name: 'post' }, port: 25, ...spec } }) as Listener,
  domain: (name: string, spec: Spec<MailDomain> = {}): MailDomain =>
    ({ apiVersion: api, kind: 'MailDomain', metadata: { name }, spec: { mailServerRef: { name: 'post' }, domains: ['example.org'], ...spec } }) as MailDomain,
  user: (name: string, spec: Spec<VirtualUser> = {}): VirtualUser =>
    ({ apiVersion: api, kind: 'VirtualUser', metadata: { name }, spec: { mailDomainRef: { name: 'example-org' }, address: `${name}@example.org`, mailbox: name, ...spec } }) as VirtualUser,
  pki: (name: string, spec: Spec<PkiCert> = {}): PkiCert =>
    ({ apiVersion: api, kind: 'PkiCert', metadata: { name }, spec: { hostnames: [`${name}.example.org`], selfSigned: {}, ...spec } }) as PkiCert,
};

/** `count` VirtualUsers with logins in one MailDomain, as the scale tests and the benchmark use. */
export function manyUsers(count: number, domain = 'example-org'): { users: VirtualUser[]; secret: { metadata: { name: string }; data: Record<string, Buffer> } } {
  const users: VirtualUser[] = [];
  for (let i = 0; i < count; i++) {
    users.push(build.user(`user${i}`, { mailDomainRef: { name: domain }, login: { passwordHashSecretRef: { name: 'user-hashes', key: `user${i}` } } }));
  }
  const data: Record<string, Buffer> = {};
  for (let i = 0; i < count; i++) data[`user${i}`] = Buffer.from(DEMO_HASH);
  return { users, secret: { metadata: { name: 'user-hashes' }, data } };
}

/** The DKIM key Secrets the operator would have generated for every MailDomain (one Ed25519 key each, signing). */
export function withOperatorDkimKeys(s: Snapshot): Snapshot {
  for (const d of s.mailDomains) {
    const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const key: DkimKey = { selector: 'kubemta-1-ed25519', algorithm: 'ed25519', n: 1, created: '2026-01-01T00:00:00Z', signing: '2026-01-01T00:00:00Z' };
    s.secrets.push(secretFromDocument(dkimSecretManifest({ apiVersion: api, metadata: { name: d.metadata.name } }, d.spec.mailServerRef.name, [key], new Map([[key.selector, pem]]))));
  }
  return s;
}
