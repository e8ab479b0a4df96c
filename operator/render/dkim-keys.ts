// The DKIM keys the operator generates for a MailDomain: where they live (a Secret the MailDomain owns,
// one data key per selector, the keys' life in an annotation), which of them sign, and the rotation
// plan. Pure: the controller (operator/controllers/dkim-keys.ts) generates keys and writes the Secret;
// render reads it back from the snapshot like any other Secret.
//
// A key's life: created (its record is in dnsRecords) → signing (after spec.dkim.rotation.publishFor; the
// first key of an algorithm signs at once, there is nothing older to sign with) → retiring (a newer key
// signs; its record stays for rotation.overlap, so mail signed with it still verifies) → gone.
import { createPublicKey } from 'node:crypto';
import type { MailDomain } from '../api/maildomain.ts';
import type { MailServer } from '../api/mailserver.ts';
import { durationMs } from './durations.ts';
import type { SecretData } from './snapshot.ts';
import { secretKey, type ServerGroup } from './checks.ts';
import { Labels, MANAGED_BY } from './workload.ts';

export const DKIM_KEYS_ANNOTATION = 'kubemta.io/dkim-keys';
export const MAILDOMAIN_LABEL = 'kubemta.io/maildomain';

export type KeyAlgorithm = 'rsa' | 'ed25519';

export interface DkimKey {
  selector: string;
  algorithm: KeyAlgorithm;
  /** Counts up per rotation; part of the selector. */
  n: number;
  created: string;
  /** When spec.dns.check first found its record published. */
  seen?: string;
  signing?: string;
  retiring?: string;
}

export const dkimSecretName = (mailDomain: string) => `${mailDomain}-dkim`;
/** The Secret's data key for a selector, also the file name in the relay pod (unique across MailDomains). */
export const dkimKeyFile = (selector: string, mailDomain: string) => `${selector}.${mailDomain}.key`;
export const selectorOf = (prefix: string, n: number, algorithm: KeyAlgorithm) => `${prefix}-${n}-${algorithm}`;

/**
 * A domain "sends mail out" when its MailServer relays mail to other domains for anyone
 * (spec.outbound.relayFrom: authenticated users, tagged Listeners or client networks): its users' mail
 * then leaves through this relay, and receivers judge it by DKIM. The same test decides whether the relay
 * config has a relay rule at all (relay-config.ts).
 */
export function sendsMailOut(server: MailServer): boolean {
  const r = server.spec.outbound.relayFrom;
  return !!(r.authenticated || r.tags?.length || r.networks?.length);
}

/** The domains records and keys are made for: the exact ones (a wildcard names no DNS record to publish). */
export const exactDomains = (d: MailDomain) => [...new Set(d.spec.domains.filter((x) => !x.includes('*')).map((x) => x.toLowerCase()))];

/** Whether the operator keeps DKIM keys for this MailDomain. */
export function dkimWanted(d: MailDomain, server: MailServer): boolean {
  return (d.spec.dkim.enabled ?? sendsMailOut(server)) && exactDomains(d).length > 0;
}

export function algorithmsOf(d: MailDomain): KeyAlgorithm[] {
  const a = d.spec.dkim.algorithm;
  return a === 'both' ? ['rsa', 'ed25519'] : a === 'ed25519' ? ['ed25519'] : ['rsa'];
}

/** The keys a DKIM Secret holds: the annotation's entries whose key is really there. */
export function readDkimKeys(secret: SecretData | undefined, mailDomain: string): DkimKey[] {
  const raw = secret?.metadata.annotations?.[DKIM_KEYS_ANNOTATION];
  if (!raw) return [];
  try {
    const list = JSON.parse(raw) as DkimKey[];
    return Array.isArray(list) ? list.filter((k) => k && typeof k.selector === 'string' && secret!.data[dkimKeyFile(k.selector, mailDomain)]?.length) : [];
  } catch {
    return [];
  }
}

const publicKeys = new WeakMap<Buffer, string>();

/** The DKIM TXT record text of a private key: RSA as SubjectPublicKeyInfo, Ed25519 as the raw 32 bytes (RFC 8463). */
export function dkimRecordText(pem: Buffer): string {
  let text = publicKeys.get(pem);
  if (!text) {
    const pub = createPublicKey(pem);
    const spki = pub.export({ type: 'spki', format: 'der' });
    text = pub.asymmetricKeyType === 'ed25519' ? `v=DKIM1; k=ed25519; p=${spki.subarray(spki.length - 32).toString('base64')}` : `v=DKIM1; k=rsa; p=${spki.toString('base64')}`;
    publicKeys.set(pem, text);
  }
  return text;
}

export interface RotationPlan {
  keys: DkimKey[];
  /** New keys to generate (n and selector chosen); the caller adds them with their private keys. */
  generate: DkimKey[];
  /** What happened, for Events. */
  changes: string[];
  /** When to look again (ms since the epoch), if anything is due later. */
  nextAt?: number;
}

const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * One step of the keys' life at `now`. `visible(selector)`: spec.dns.check has seen the key's record
 * published (only asked when the domain has a check).
 */
export function planRotation(d: MailDomain, current: DkimKey[], now: number, visible: (selector: string) => boolean): RotationPlan {
  const spec = d.spec.dkim;
  const rotation = spec.rotation;
  const publishFor = durationMs(rotation?.publishFor ?? '72h');
  const overlap = durationMs(rotation?.overlap ?? '7d');
  const checked = !!d.spec.dns.check;
  const keys = current.map((k) => ({ ...k }));
  const generate: DkimKey[] = [];
  const changes: string[] = [];
  const due: number[] = [];
  const wanted = new Set(algorithmsOf(d));
  // an algorithm no longer wanted retires like a replaced key
  for (const k of keys) {
    if (!wanted.has(k.algorithm) && !k.retiring) {
      k.retiring = iso(now);
      changes.push(`DKIM key ${k.selector} retiring (algorithm no longer in spec.dkim.algorithm)`);
    }
  }
  for (const algorithm of wanted) {
    const mine = keys.filter((k) => k.algorithm === algorithm && !k.retiring).sort((a, b) => a.n - b.n);
    const n = 1 + Math.max(0, ...keys.filter((k) => k.algorithm === algorithm).map((k) => k.n));
    const fresh = (signing: boolean): DkimKey => ({ selector: selectorOf(spec.selector, n, algorithm), algorithm, n, created: iso(now), ...(signing ? { signing: iso(now) } : {}) });
    if (!mine.length) {
      generate.push(fresh(true));
      continue;
    }
    const signer = mine.filter((k) => k.signing).at(-1);
    const newest = mine.at(-1)!;
    if (newest !== signer && !newest.signing) {
      if (checked && !newest.seen && visible(newest.selector)) newest.seen = iso(now);
      const from = checked ? (newest.seen ? Date.parse(newest.seen) : undefined) : Date.parse(newest.created);
      if (from !== undefined && now >= from + publishFor) {
        newest.signing = iso(now);
        changes.push(`DKIM key ${newest.selector} signs now`);
        if (signer) {
          signer.retiring = iso(now);
          changes.push(`DKIM key ${signer.selector} retiring: its record stays for ${rotation?.overlap ?? '7d'}`);
        }
      } else if (from !== undefined) due.push(from + publishFor);
      else due.push(now + 30_000); // not seen yet: the DNS check's own schedule brings us back sooner
    } else if (signer && rotation?.every) {
      const at = Date.parse(signer.signing!) + durationMs(rotation.every);
      if (now >= at) {
        const k = fresh(false);
        generate.push(k);
        changes.push(`DKIM key ${k.selector} generated: published now, signs after ${rotation.publishFor}`);
      } else due.push(at);
    }
  }
  for (const k of [...keys]) {
    if (!k.retiring) continue;
    const end = Date.parse(k.retiring) + overlap;
    if (now >= end) {
      keys.splice(keys.indexOf(k), 1);
      changes.push(`DKIM key ${k.selector} retired: record withdrawn`);
    } else due.push(end);
  }
  for (const k of generate) if (k.signing) changes.push(`DKIM key ${k.selector} generated: signs now`);
  return { keys, generate, changes, ...(due.length ? { nextAt: Math.min(...due) } : {}) };
}

/** When the next key is due to be generated (status.dkimNextRotation). */
export function nextRotation(d: MailDomain, keys: DkimKey[]): string | undefined {
  const every = d.spec.dkim.rotation?.every;
  if (!every) return undefined;
  const times = keys.filter((k) => k.signing && !k.retiring).map((k) => Date.parse(k.signing!) + durationMs(every));
  return times.length ? iso(Math.min(...times)) : undefined;
}

export interface DomainDkim {
  /** Every selector with a record: signing, waiting to sign, retiring. */
  published: { selector: string; text: string }[];
  /** The operator's keys that sign now, by file in the Secret (the MailServer's own keys sign as configured there). */
  signing: { selector: string; file: string }[];
}

export interface ServerDkim {
  /** By exact domain. A domain keyed in the MailServer's spec.outbound.dkim is the user's; else the oldest MailDomain naming it keys it. */
  byDomain: Map<string, DomainDkim>;
  /** The operator's key Secrets the relay mounts (those that exist). */
  secrets: string[];
  /** MailDomains that want keys and have no key Secret yet. */
  missing: MailDomain[];
  /** By MailDomain name: its status.dkim* fields. */
  status: Map<string, Record<string, string>>;
}

/** Which keys publish and sign for each domain of one server's MailDomains (g.domains oldest first). */
export function serverDkim(g: ServerGroup): ServerDkim {
  const out: ServerDkim = { byDomain: new Map(), secrets: [], missing: [], status: new Map() };
  for (const k of g.server.spec.outbound.dkim ?? []) {
    const domain = k.domain.toLowerCase();
    const entry = out.byDomain.get(domain) ?? { published: [], signing: [] };
    out.byDomain.set(domain, entry);
    const pem = secretKey(g, k.privateKeySecretRef);
    try {
      if (pem) entry.published.push({ selector: k.selector, text: dkimRecordText(pem) });
    } catch {
      // not a key: serverOutboundSecrets names the field
    }
  }
  for (const d of g.domains) {
    if (!dkimWanted(d, g.server)) continue;
    const name = d.metadata.name;
    const secretName = dkimSecretName(name);
    const secret = g.secrets.get(secretName);
    const keys = readDkimKeys(secret, name);
    const mine = exactDomains(d).filter((x) => !out.byDomain.has(x));
    if (!keys.length) {
      if (mine.length) out.missing.push(d);
      continue;
    }
    out.secrets.push(secretName);
    const entry: DomainDkim = {
      published: keys.map((k) => ({ selector: k.selector, text: dkimRecordText(secret!.data[dkimKeyFile(k.selector, name)]) })),
      signing: keys.filter((k) => k.signing && !k.retiring).map((k) => ({ selector: k.selector, file: dkimKeyFile(k.selector, name) })),
    };
    for (const x of mine) out.byDomain.set(x, entry);
    const next = nextRotation(d, keys);
    out.status.set(name, {
      dkimSecretName: secretName,
      dkimSigning: entry.signing.map((k) => k.selector).join(','),
      dkimPublished: entry.published.map((k) => k.selector).join(','),
      ...(next ? { dkimNextRotation: next } : {}),
    });
  }
  return out;
}

/** The DKIM Secret the operator owns: every key by selector, their life in an annotation; labels for the watch. */
export function dkimSecretManifest(d: { metadata: { name: string; namespace?: string; uid?: string }; apiVersion: string }, server: string, keys: DkimKey[], pems: Map<string, string>) {
  const name = d.metadata.name;
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: dkimSecretName(name),
      ...(d.metadata.namespace ? { namespace: d.metadata.namespace } : {}),
      labels: { [Labels.managedBy]: MANAGED_BY, [Labels.component]: 'dkim', [Labels.server]: server, [MAILDOMAIN_LABEL]: name },
      annotations: { [DKIM_KEYS_ANNOTATION]: JSON.stringify(keys) },
      ...(d.metadata.uid ? { ownerReferences: [{ apiVersion: d.apiVersion, kind: 'MailDomain', name, uid: d.metadata.uid, controller: true }] } : {}),
    },
    data: Object.fromEntries(keys.map((k) => [dkimKeyFile(k.selector, name), Buffer.from(pems.get(k.selector)!).toString('base64')])),
  };
}
