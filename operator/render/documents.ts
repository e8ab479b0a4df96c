// Plain documents (from YAML files or the API) → a Snapshot: kubemta objects by kind, Secrets decoded
// (data is base64, stringData plain text, as kubectl accepts both). Other kinds are reported, not fatal.
import type { AnyKubemtaObject } from '../api/validate.ts';
import type { SecretData, Snapshot } from './snapshot.ts';

export function emptySnapshot(): Snapshot {
  return { mailServers: [], listeners: [], pkiCerts: [], mailDomains: [], virtualUsers: [], secrets: [] };
}

export function secretFromDocument(doc: { metadata: { name: string; namespace?: string; annotations?: Record<string, string> }; type?: string; data?: Record<string, string>; stringData?: Record<string, string> }): SecretData {
  const data: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(doc.data ?? {})) data[k] = Buffer.from(v, 'base64');
  for (const [k, v] of Object.entries(doc.stringData ?? {})) data[k] = Buffer.from(v, 'utf8');
  const annotations = doc.metadata.annotations;
  return { metadata: { name: doc.metadata.name, namespace: doc.metadata.namespace, ...(annotations ? { annotations } : {}) }, type: doc.type, data };
}

const listOf: Record<string, keyof Omit<Snapshot, 'secrets'>> = {
  MailServer: 'mailServers',
  Listener: 'listeners',
  PkiCert: 'pkiCerts',
  MailDomain: 'mailDomains',
  VirtualUser: 'virtualUsers',
};

/** Sorts documents into a snapshot; returns the ones it did not recognise (by `kind/name`). */
export function snapshotFromDocuments(docs: unknown[], into = emptySnapshot()): { snapshot: Snapshot; ignored: string[] } {
  const ignored: string[] = [];
  for (const d of docs) {
    if (!d || typeof d !== 'object') continue;
    const doc = d as { apiVersion?: string; kind?: string; metadata?: { name?: string } };
    const list = doc.kind ? listOf[doc.kind] : undefined;
    if (list && doc.apiVersion?.startsWith('kubemta.io/')) (into[list] as AnyKubemtaObject[]).push(d as AnyKubemtaObject);
    else if (doc.kind === 'Secret' && doc.apiVersion === 'v1' && doc.metadata?.name) into.secrets.push(secretFromDocument(d as Parameters<typeof secretFromDocument>[0]));
    else ignored.push(`${doc.kind ?? '?'}/${doc.metadata?.name ?? '?'}`);
  }
  return { snapshot: into, ignored };
}
