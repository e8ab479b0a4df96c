// The DNS controller of a MailDomain: checks its status.dnsRecords against DNS (spec.dns.check: the
// DNSReady condition, written by the MailDomain's own reconcile) and publishes them as an external-dns
// DNSEndpoint (spec.dns.publish: external-dns). It reads the records from the status the MailServer's
// render wrote, so what is checked and published is exactly what `kubectl describe` shows.
import { createHash } from 'node:crypto';
import { ApiError, type KubeObjectLike } from '../kube/client.ts';
import type { MailDomain } from '../api/maildomain.ts';
import { validateObject } from '../api/validate.ts';
import { Resources } from '../api/resources.ts';
import type { DnsRecord } from '../render/dns-records.ts';
import { txtText } from '../render/dns-records.ts';
import { durationMs } from '../render/durations.ts';
import { Labels, MANAGED_BY } from '../render/workload.ts';
import { MAILDOMAIN_LABEL } from '../render/dkim-keys.ts';
import { FIELD_MANAGER, type ControllerContext } from './context.ts';
import { checkRecords, describeCheck, makeResolver } from './dns-check.ts';
import type { DnsCondition } from './domain-dns-state.ts';

/** How soon records that do not match yet are looked at again (capped by spec.dns.check.interval). */
export const RECHECK_FAILING_MS = 30_000;

export const dnsEndpointName = (mailDomain: string) => `${mailDomain}-dns`;

const digestOf = (v: unknown) => createHash('sha256').update(JSON.stringify(v)).digest('hex').slice(0, 16);

/** external-dns endpoints: one per name and type, MX targets as `10 host` and TXT targets as their text. */
export function endpointsOf(records: DnsRecord[], ttl: number): { dnsName: string; recordType: string; targets: string[]; recordTTL: number }[] {
  const byKey = new Map<string, { dnsName: string; recordType: string; targets: string[]; recordTTL: number }>();
  for (const r of records) {
    const k = `${r.type} ${r.name}`;
    const e = byKey.get(k) ?? { dnsName: r.name, recordType: r.type, targets: [], recordTTL: ttl };
    byKey.set(k, e);
    e.targets.push(r.type === 'TXT' ? txtText(r.value) : r.value.replace(/\.$/, ''));
  }
  return [...byKey.values()];
}

async function publish(ctx: ControllerContext, raw: KubeObjectLike, d: MailDomain, records: DnsRecord[], key: string): Promise<void> {
  const ns = raw.metadata.namespace!;
  const name = dnsEndpointName(raw.metadata.name);
  if (d.spec.dns.publish !== 'external-dns') {
    if (!ctx.domainDns.published.has(key)) return;
    await ctx.client.delete(Resources.DNSEndpoint, ns, name).catch((err: unknown) => {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    });
    ctx.domainDns.published.delete(key);
    ctx.metrics.writes.inc({ kind: 'DNSEndpoint', verb: 'delete' });
    return;
  }
  const manifest = {
    apiVersion: `${Resources.DNSEndpoint.group}/${Resources.DNSEndpoint.version}`,
    kind: 'DNSEndpoint',
    metadata: {
      name,
      namespace: ns,
      labels: { [Labels.managedBy]: MANAGED_BY, [MAILDOMAIN_LABEL]: raw.metadata.name },
      ownerReferences: [{ apiVersion: raw.apiVersion, kind: 'MailDomain', name: raw.metadata.name, uid: raw.metadata.uid!, controller: true }],
    },
    spec: { endpoints: endpointsOf(records, d.spec.dns.ttl) },
  };
  const digest = digestOf(manifest);
  if (ctx.domainDns.published.get(key) === digest) return;
  await ctx.client.apply(Resources.DNSEndpoint, ns, manifest as unknown as KubeObjectLike, FIELD_MANAGER, { force: true });
  ctx.domainDns.published.set(key, digest);
  ctx.metrics.writes.inc({ kind: 'DNSEndpoint', verb: 'apply' });
  await ctx.events.record(raw, 'Normal', 'Published', `DNSEndpoint ${name}: ${manifest.spec.endpoints.length} endpoint(s) for external-dns`);
}

async function check(ctx: ControllerContext, raw: KubeObjectLike, d: MailDomain, records: DnsRecord[], key: string): Promise<number | undefined> {
  const state = ctx.domainDns;
  const spec = d.spec.dns.check;
  if (!spec) {
    if (state.conditions.delete(key)) ctx.enqueue('MailDomain', key);
    state.checked.delete(key);
    state.seenSelectors.delete(key);
    return undefined;
  }
  const now = ctx.now().getTime();
  const digest = digestOf([records, spec]);
  const last = state.checked.get(key);
  if (last && last.digest === digest && now < last.dueAt) return last.dueAt - now; // a status write that changed no record
  let condition: DnsCondition;
  const result = await checkRecords(records, makeResolver(spec.resolver));
  if (result.error) condition = { status: 'Unknown', reason: 'ResolverFailed', message: describeCheck(result, records.length) };
  else if (!records.length) condition = { status: 'False', reason: 'NoRecords', message: 'no records to check (no exact domain in spec.domains)' };
  else {
    const ok = !result.missing.length && !result.different.length;
    condition = { status: ok ? 'True' : 'False', reason: ok ? 'RecordsPublished' : 'RecordsMissing', message: describeCheck(result, records.length) };
  }
  const interval = durationMs(spec.interval);
  const wait = condition.status === 'True' ? interval : Math.min(interval, RECHECK_FAILING_MS);
  state.checked.set(key, { digest, dueAt: now + wait });
  const before = state.conditions.get(key);
  if (JSON.stringify(before) !== JSON.stringify(condition)) {
    state.conditions.set(key, condition);
    ctx.enqueue('MailDomain', key);
    ctx.log.info({ maildomain: key, status: condition.status, reason: condition.reason, msg: condition.message.slice(0, 300) }, 'DNS check');
  }
  const seen = new Set(result.found.filter((r) => r.purpose === 'dkim').map((r) => r.name.split('._domainkey.')[0]));
  const seenBefore = state.seenSelectors.get(key);
  if ([...seen].some((s) => !seenBefore?.has(s))) ctx.enqueue('DkimKeys', key);
  state.seenSelectors.set(key, seen);
  return wait;
}

export async function reconcileDomainDns(ctx: ControllerContext, key: string): Promise<{ requeueAfterMs?: number } | void> {
  const [ns, name] = key.split('/');
  const raw = ctx.informers.MailDomain.get(ns, name);
  if (!raw) {
    for (const m of [ctx.domainDns.conditions, ctx.domainDns.checked, ctx.domainDns.seenSelectors, ctx.domainDns.published]) m.delete(key);
    return; // its DNSEndpoint is owned: garbage-collected with it
  }
  const v = validateObject(structuredClone(raw));
  if (!v.ok) return;
  const d = v.object as MailDomain;
  const records = (raw.status as { dnsRecords?: DnsRecord[] } | undefined)?.dnsRecords;
  if (!records) return; // not rendered yet: its first status brings us back
  await publish(ctx, raw, d, records, key);
  const wait = await check(ctx, raw, d, records, key);
  return wait === undefined ? undefined : { requeueAfterMs: wait };
}
