// A relay action's options → MailServer.spec.outbound: `host smtp+tls://label@mx.example.net:587` (new) or
// `relay via tls+auth://label@host` (old) → smarthost and TLS policy; `auth <secrets>` (label → user:password)
// → smarthostAuth with a Secret for the password; `helo` → heloName. One outbound per MailServer: the
// first relay action's settings win, differing later ones are reported. `srs key` (and `srs key backup`,
// `srs ttl`) → outbound.srs with a Secret holding the keys, the primary first.
import { SRS_MIN_KEY_LENGTH } from '../../relay/lookup/srs.ts';
import type { Ctx } from './context.ts';
import type { ActionDecl } from './model.ts';

export interface Outbound {
  relayFrom: { authenticated: boolean; tags?: string[]; networks?: string[] };
  smarthost?: string;
  smarthostAuth?: { username: string; passwordSecretRef: { name: string } };
  heloName?: string;
  tls?: 'none' | 'opportunistic' | 'required' | 'verify';
  srs?: { keySecretRef: { name: string }; maxAgeDays?: number };
}

interface RelayUrl {
  smarthost: string;
  label?: string;
  tls?: Outbound['tls'];
}

/** smtp://, smtp+tls://, smtp+notls://, smtps:// (new); tls://, ssl://, secure://, with +auth (old). */
function parseRelayUrl(ctx: Ctx, a: ActionDecl, url: string): RelayUrl | undefined {
  const m = /^(?:([a-z+]+):\/\/)?(?:([^@/]+)@)?([^:/@]+|\[[^\]]+\])(?::(\d+))?$/.exec(url);
  if (!m) return void ctx.findings.dropped(a, `relay host ${url}`, 'not a relay URL');
  const [, proto = 'smtp', label, host, port] = m;
  const base = proto.replace(/\+auth$/, '');
  const tls: Record<string, [string, number, Outbound['tls']?]> = {
    smtp: ['smtp', 25],
    'smtp+tls': ['smtp', 25, 'verify'],
    tls: ['smtp', 25, 'required'],
    'smtp+notls': ['smtp', 25, 'none'],
    smtps: ['smtps', 465],
    ssl: ['smtps', 465],
    secure: ['smtps', 465],
  };
  const t = tls[base];
  if (!t) return void ctx.findings.dropped(a, `relay host ${url}`, `${proto}:// has no kubemta equivalent (smtp:// and smtps:// smarthosts)`);
  return { smarthost: `${t[0]}://${host}:${port ?? t[1]}`, ...(label ? { label } : {}), ...(t[2] ? { tls: t[2] } : {}) };
}

function smarthostAuth(ctx: Ctx, a: ActionDecl, label: string | undefined): Outbound['smarthostAuth'] {
  const ref = a.relay.auth!;
  const data = ctx.tables.read(ref);
  if (!data) return void ctx.findings.dropped(ref, 'auth', `a ${ctx.tables.backend(ref)} table is not read`);
  const entry = label ? data.entries.find((e) => e.key === label) : data.entries[0];
  if (!entry) return void ctx.findings.dropped(ref, 'auth', label ? `no entry "${label}" in the table` : 'an empty table');
  if (!label && data.entries.length > 1) ctx.findings.changed(ref, 'auth', `the relay URL names no label; the first entry ("${entry.key}") is used`);
  const colon = entry.value.indexOf(':');
  if (colon <= 0) return void ctx.findings.dropped({ line: entry.line }, entry.key, 'not "user:password"', data.file);
  const name = ctx.name('Secret', `${data.name}-smarthost`);
  ctx.emit('Secret', name, { type: 'Opaque', stringData: { password: entry.value.slice(colon + 1) } }, { line: ref.line, text: `auth <${data.name}>` });
  return { username: entry.value.slice(0, colon), passwordSecretRef: { name } };
}

/** The smarthost a relay action names (`host URL`), or undefined. */
export function relayHost(ctx: Ctx, a: ActionDecl): string | undefined {
  return a.relay.host ? parseRelayUrl(ctx, a, a.relay.host)?.smarthost : undefined;
}

/** Sets `out` from a relay action where it has nothing yet; a differing later setting is reported. */
export function relayOutbound(ctx: Ctx, a: ActionDecl, out: Outbound): void {
  const mine: Pick<Outbound, 'smarthost' | 'tls' | 'heloName'> = {};
  const url = a.relay.host ? parseRelayUrl(ctx, a, a.relay.host) : undefined;
  if (url) {
    mine.smarthost = url.smarthost;
    if (url.tls) mine.tls = url.tls;
  }
  if (a.relay.tls) mine.tls = a.relay.tls;
  if (a.relay.helo) mine.heloName = a.relay.helo;
  if (a.relay.auth && !mine.smarthost) ctx.findings.dropped(a.relay.auth, 'auth', 'credentials for a relay without a host have no use');
  for (const k of ['smarthost', 'tls', 'heloName'] as const) {
    if (mine[k] === undefined) continue;
    if (out[k] === undefined) Object.assign(out, { [k]: mine[k] });
    else if (out[k] !== mine[k]) ctx.findings.changed(a, `${k} ${mine[k]}`, `one outbound setting per MailServer (${out[k]} is kept)`);
  }
  if (a.relay.auth && mine.smarthost && out.smarthost === mine.smarthost && !out.smarthostAuth) {
    const auth = smarthostAuth(ctx, a, url?.label);
    if (auth) out.smarthostAuth = auth;
  }
}

/** `srs key "s"` [+ `srs key backup "s"`, `srs ttl D`] → outbound.srs and a Secret `<server>-srs` (key `keys`, primary first). */
export function srsOutbound(ctx: Ctx, server: string): Outbound['srs'] {
  const srs = ctx.conf.srs;
  const actions = new Set([...ctx.conf.actions.values(), ...ctx.conf.rules.flatMap((r) => (r.decision.kind === 'action' ? [r.decision.action] : []))]);
  const relays = [...actions].filter((a) => a.method === 'relay');
  if (!srs?.key) {
    if (srs?.backup) ctx.findings.dropped(srs.backup, 'srs key backup', 'a backup key without `srs key` has no use');
    if (srs?.ttl) ctx.findings.dropped(srs.ttl, 'srs ttl', 'SRS is off without `srs key`');
    for (const a of relays) if (a.relay.srs) ctx.findings.dropped(a.relay.srs, 'srs', 'needs `srs key`, which this config does not give');
    return undefined;
  }
  const keys = [srs.key, ...(srs.backup ? [srs.backup] : [])];
  for (const k of keys) {
    if (k.value.length < SRS_MIN_KEY_LENGTH) {
      ctx.findings.changed(k, k === srs.backup ? 'srs key backup' : 'srs key', `kubemta needs SRS keys of at least ${SRS_MIN_KEY_LENGTH} characters: put a longer one on top of the Secret's keys (the MailServer is not Ready until then; addresses signed with a dropped key no longer verify)`);
    }
  }
  const without = relays.filter((a) => !a.relay.srs);
  if (without.length) {
    ctx.findings.changed(srs.key, 'srs key', `kubemta rewrites the sender of every copy a table forwards to another domain, not only through relay actions with the \`srs\` option (${without.map((a) => `line ${a.line}`).join(', ')} ${without.length > 1 ? 'have' : 'has'} none)`);
  }
  let maxAgeDays: number | undefined;
  if (srs.ttl) {
    maxAgeDays = Math.min(1000, Math.max(1, Math.ceil(srs.ttl.seconds / 86400)));
    if (maxAgeDays * 86400 !== srs.ttl.seconds) ctx.findings.changed(srs.ttl, 'srs ttl', `SRS addresses age in whole days (1…1000): maxAgeDays ${maxAgeDays}`);
  }
  const name = ctx.name('Secret', `${server}-srs`);
  ctx.emit('Secret', name, { type: 'Opaque', stringData: { keys: keys.map((k) => `${k.value}\n`).join('') } }, { line: srs.key.line, text: 'srs key' });
  return { keySecretRef: { name }, ...(maxAgeDays ? { maxAgeDays } : {}) };
}
