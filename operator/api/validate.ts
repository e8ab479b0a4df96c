// Validation of kubemta objects with the same schemas the CRDs come from (ajv, filling defaults), plus
// the rules a newer cluster would state in CEL (`x-kubernetes-validations`): Kubernetes 1.20 drops
// those, so the operator checks them itself. Each problem names its field: `spec.address: …`.
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { schemaProblems } from '../../relay/config/index.ts';
import { kinds } from './kinds.ts';
import { objectSchema, type KindDef } from './kind.ts';
import type { MailServer } from './mailserver.ts';
import type { Listener } from './listener.ts';
import type { PkiCert } from './pkicert.ts';
import type { MailDomain } from './maildomain.ts';
import type { VirtualUser } from './virtualuser.ts';

export type AnyKubemtaObject = MailServer | Listener | PkiCert | MailDomain | VirtualUser;

/** A rule CEL would express: returns the problems (`field: message`) of one object. */
type Rule<T> = (o: T) => string[];

const pkiRules: Rule<PkiCert>[] = [
  (o) => ((o.spec.secretName === undefined) === (o.spec.selfSigned === undefined) ? ['spec: give exactly one of secretName and selfSigned'] : []),
  (o) =>
    o.spec.selfSigned && o.spec.selfSigned.renewBeforeDays >= o.spec.selfSigned.validityDays
      ? ['spec.selfSigned.renewBeforeDays: must be less than validityDays']
      : [],
];

const userRules: Rule<VirtualUser>[] = [
  (o) => ((o.spec.address === undefined) === (o.spec.localPart === undefined) ? ['spec: give exactly one of address and localPart'] : []),
  (o) => (o.spec.mailbox === undefined && !o.spec.forwardTo?.length ? ['spec: give a mailbox, forwardTo addresses, or both'] : []),
];

const listenerRules: Rule<Listener>[] = [
  (o) => (o.spec.tls.mode !== 'none' && !o.spec.tls.pkiCertRef ? [`spec.tls.pkiCertRef: required for tls mode ${o.spec.tls.mode}`] : []),
  (o) => (o.spec.auth && o.spec.tls.mode === 'none' ? ['spec.auth: AUTH is only offered after TLS; set spec.tls.mode'] : []),
  (o) => (o.spec.service.nodePort !== undefined && o.spec.service.type !== 'NodePort' && o.spec.service.type !== 'LoadBalancer' ? ['spec.service.nodePort: only for NodePort or LoadBalancer'] : []),
  (o) => (isLoopback(o.spec.address) && o.spec.service.type !== 'None' && o.spec.service.type !== 'ClusterIP' ? ['spec.service.type: a listener bound to loopback cannot be exposed'] : []),
];

const domainRules: Rule<MailDomain>[] = [
  (o) => (o.spec.delivery.type === 'lmtp' && !o.spec.delivery.lmtp?.host ? ['spec.delivery.lmtp.host: required for lmtp delivery'] : []),
];

const serverRules: Rule<MailServer>[] = [
  (o) => (o.spec.outbound.smarthostAuth && !o.spec.outbound.smarthost ? ['spec.outbound.smarthostAuth: needs spec.outbound.smarthost'] : []),
  (o) => (o.spec.filter && [o.spec.filter.url, o.spec.filter.serviceRef, o.spec.filter.sidecar].filter(Boolean).length !== 1 ? ['spec.filter: give exactly one of url, serviceRef and sidecar'] : []),
];

export function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1');
}

const rules: Record<string, Rule<never>[]> = {
  MailServer: serverRules,
  Listener: listenerRules,
  PkiCert: pkiRules,
  MailDomain: domainRules,
  VirtualUser: userRules,
};

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
// ajv-formats is CommonJS: its default export is the module object under type stripping
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule) as unknown as (a: Ajv) => void;
addFormats(ajv);
const validators = new Map<string, ValidateFunction>(kinds.map((k) => [k.kind, ajv.compile(objectSchema(k as unknown as KindDef))]));

export type Validation = { ok: true; object: AnyKubemtaObject } | { ok: false; problems: string[] };

/** Validates (and defaults, in place) one object of any kubemta kind. */
export function validateObject(doc: unknown): Validation {
  const kind = (doc as { kind?: unknown } | null)?.kind;
  const validate = typeof kind === 'string' ? validators.get(kind) : undefined;
  if (!validate) return { ok: false, problems: [`kind: not a kubemta kind (${String(kind)})`] };
  if (!validate(doc)) return { ok: false, problems: schemaProblems(validate.errors) };
  const obj = doc as AnyKubemtaObject;
  const problems = (rules[kind as string] as Rule<AnyKubemtaObject>[]).flatMap((r) => r(obj));
  return problems.length ? { ok: false, problems } : { ok: true, object: obj };
}
