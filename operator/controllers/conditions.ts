// One conditions helper for every kind: keeps lastTransitionTime when the status does not change,
// stamps observedGeneration, and builds the status a verdict asks for.
import { createHash } from 'node:crypto';
import type { Condition } from '../api/fields.ts';
import type { Verdict } from '../render/snapshot.ts';

export interface ConditionInput {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export function setCondition(conditions: Condition[] | undefined, c: ConditionInput, generation: number | undefined, now: Date): Condition[] {
  const list = conditions ?? [];
  const old = list.find((x) => x.type === c.type);
  const next: Condition = {
    ...c,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
  return [...list.filter((x) => x.type !== c.type), next].sort((a, b) => (a.type < b.type ? -1 : 1));
}

export function conditionOf(status: { conditions?: Condition[] } | undefined, type = 'Ready'): Condition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

type Status = { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };

/** The status an object should have after a verdict; `undefined` when it should be left alone. */
export function statusFromVerdict(current: Status | undefined, v: Verdict, generation: number | undefined, now: Date): Status | undefined {
  if (v.ready === 'held' && conditionOf(current)) return undefined; // keep what it said while it was applied
  const status: ConditionInput['status'] = v.ready === true ? 'True' : v.ready === 'held' ? 'Unknown' : 'False';
  const message = v.message.length > 2000 ? v.message.slice(0, 1997) + '...' : v.message;
  let conditions = setCondition(current?.conditions, { type: 'Ready', status, reason: v.reason, message }, generation, now);
  // kstatus (what Flux and Argo CD wait on): Reconciling while waiting or rolling out, Stalled when it
  // cannot progress without a change; both abnormal-true, so absent once Ready
  const progress = v.ready === false ? (v.waiting ? 'Reconciling' : 'Stalled') : undefined;
  for (const type of ['Reconciling', 'Stalled']) {
    conditions = type === progress ? setCondition(conditions, { type, status: 'True', reason: v.reason, message }, generation, now) : conditions.filter((c) => c.type !== type);
  }
  for (const [type, c] of Object.entries(v.conditions ?? {})) {
    conditions = c ? setCondition(conditions, { type, ...c }, generation, now) : conditions.filter((x) => x.type !== type);
  }
  const fields = Object.fromEntries(Object.entries(v.status).filter(([, x]) => x !== undefined));
  return { ...fields, observedGeneration: generation, conditions };
}

/** Equal apart from lastTransitionTime, so a status is written only when it says something new. */
export function sameStatus(a: Status | undefined, b: Status | undefined): boolean {
  return canonical(a ?? {}) === canonical(b ?? {});
}

/** A short digest of a status as sameStatus() sees it (without lastTransitionTime). */
export function statusDigest(s: Status | undefined): string {
  return createHash('sha256').update(canonical(s ?? {})).digest('hex').slice(0, 16);
}

/** JSON with keys sorted at every level (the API server returns them sorted) and without lastTransitionTime. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const entries = Object.entries(v).filter(([k, x]) => k !== 'lastTransitionTime' && x !== undefined).sort(([x], [y]) => (x < y ? -1 : 1));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}
