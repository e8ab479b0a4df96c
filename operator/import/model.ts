// The neutral model both grammars parse into: the old one (`accept … deliver to mbox`, OpenSMTPD ≤ 6.3)
// and the current one (`action "x" mbox` + `match … action "x"`, 6.4 on). An old `accept` rule becomes
// a Rule with its own anonymous Action, so to-crs.ts sees one shape.

export interface At {
  line: number;
  col: number;
}

/** A table named in the config (`<t>`), or values written in place (`"example.org"`, `{ a, b }`, `{ k = v }`). */
export type Ref =
  | ({ kind: 'table'; name: string } & At)
  | ({ kind: 'inline'; list: string[]; map: [string, string][] } & At);

export interface TableDecl extends At {
  name: string;
  /** file and db are read from their makemap source; static from the config; others are not imported. */
  backend: 'file' | 'db' | 'static' | string;
  path?: string;
  list?: string[];
  map?: [string, string][];
}

export interface PkiDecl extends At {
  name: string;
  cert?: string;
  key?: string;
}

export type Interface =
  | { kind: 'all' }
  | { kind: 'loopback' }
  /** An address, interface name or host name: kubemta binds every address of the pod instead. */
  | { kind: 'named'; name: string }
  /** `listen on inet4 …` with no interface (the seed article's Listing 1). */
  | { kind: 'missing' };

export type TlsMode = 'none' | 'starttls' | 'starttls-required' | 'implicit';

export interface ListenDecl extends At {
  text: string;
  iface: Interface;
  family: 'inet4' | 'inet6' | 'any';
  port?: number;
  tls: TlsMode;
  pki: string[];
  auth?: { required: boolean; table?: Ref };
  tag?: string;
  hostname?: string;
  proxyV2: boolean;
}

export type Method = 'mbox' | 'maildir' | 'lmtp' | 'relay' | 'mda' | 'expand-only' | 'forward-only' | 'none';

export interface RelayOptions {
  host?: string;
  auth?: Ref;
  helo?: string;
  /** `tls` (verify) or `tls no-verify` (required). */
  tls?: 'verify' | 'required';
  /** `srs`: rewrite the sender of forwarded mail (needs `srs key`). */
  srs?: At;
}

export interface ActionDecl extends At {
  /** The `action` name; old rules get `accept@<line>`. */
  name: string;
  method: Method;
  lmtp?: { destination: string; rcptTo: boolean };
  alias?: Ref;
  virtual?: Ref;
  relay: RelayOptions;
  /** Queue lifetime for this action (`ttl 4d`, old rule `expire 4d`). */
  ttlSeconds?: number;
}

export interface Condition extends At {
  negated: boolean;
  regex: boolean;
}

export interface FromCondition extends Condition {
  kind: 'any' | 'local' | 'src' | 'auth' | 'socket' | 'rdns' | 'mail-from';
  value?: Ref;
}

export interface ForCondition extends Condition {
  kind: 'any' | 'local' | 'domain' | 'rcpt-to';
  value?: Ref;
}

export interface RuleDecl extends At {
  grammar: 'old' | 'new';
  /** The rule as written (first words), for messages. */
  text: string;
  /** Written, or the default (`from local`, `for local`) when absent. */
  from: FromCondition;
  for: ForCondition;
  /** `tagged T` (old), `tag T` (new). */
  tag?: Condition & { value: string };
  /** `auth` / `auth <users>` as a transaction option (new grammar); `from auth` sets it too. */
  auth?: Condition & { users?: Ref };
  /** Conditions kubemta's rules cannot express (helo, mail-from, rcpt-to, tls, sender, recipient). */
  unsupported: (At & { what: string })[];
  decision: { kind: 'reject' } | { kind: 'action'; action: ActionDecl };
}

export interface SmtpdConf {
  pki: Map<string, PkiDecl>;
  tables: Map<string, TableDecl>;
  listeners: ListenDecl[];
  actions: Map<string, ActionDecl>;
  rules: RuleDecl[];
  /** `limit mta inet4` / `mta limit inet6`. */
  mtaFamily?: At & { family: 'inet4' | 'inet6' };
  maxMessageBytes?: At & { value: number };
  maxRecipients?: At & { value: number };
  queueTtlSeconds?: At & { value: number };
  /** `smtp sub-addr-delim +` */
  subaddressDelimiter?: At & { value: string };
  /** `srs key "secret"`, `srs key backup "secret"`, `srs ttl 4d`. */
  srs?: { key?: At & { value: string }; backup?: At & { value: string }; ttl?: At & { seconds: number } };
}

export function emptyConf(): SmtpdConf {
  return { pki: new Map(), tables: new Map(), listeners: [], actions: new Map(), rules: [] };
}
