// Loads a relay config: YAML → --set overrides → ajv (schema + defaults) → relative paths → cross-references.
// Every problem is reported with its path (`listeners[1].pki: no pki named "mail"`), all at once.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { hostname as osHostname } from 'node:os';
import * as yaml from 'js-yaml';
import { Ajv, type ErrorObject } from 'ajv';
import { ConfigSchema, type Config } from './schema.ts';
import { crossCheck } from './check.ts';
import { applySet } from './set.ts';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(source: string, problems: string[]) {
    super(`${source}: ${problems.length} problem(s):\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

export interface LoadedConfig {
  config: Config;
  /** The config file (absolute), for reload and for resolving paths. */
  file: string;
  /** Every file the config refers to (certificates, tables): a change to any of them triggers a reload. */
  watched: string[];
}

const ajv = new Ajv({ useDefaults: true, allErrors: true, strict: false });
const validate = ajv.compile<Config>(ConfigSchema);

/** `/listeners/1/pki` → `listeners[1].pki` */
export function jsonPointerToPath(pointer: string): string {
  if (!pointer) return '';
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '');
}

function describe(e: ErrorObject): string {
  const at = jsonPointerToPath(e.instancePath);
  switch (e.keyword) {
    case 'additionalProperties':
      return `${at ? at + '.' : ''}${(e.params as { additionalProperty: string }).additionalProperty}: unknown key`;
    case 'required':
      return `${at ? at + '.' : ''}${(e.params as { missingProperty: string }).missingProperty}: required`;
    case 'enum':
    case 'const':
      return `${at}: ${e.message}${e.params && 'allowedValues' in e.params ? ' ' + JSON.stringify(e.params.allowedValues) : ''}`;
    default:
      return `${at || '(top level)'}: ${e.message}`;
  }
}

/** Collapses ajv's anyOf noise (a union of literals reports one error per literal) into one line per path. */
export function schemaProblems(errors: ErrorObject[] | null | undefined): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const unions = new Map<string, unknown[]>();
  for (const e of errors ?? []) {
    if (e.keyword === 'const') {
      const list = unions.get(e.instancePath) ?? [];
      list.push((e.params as { allowedValue: unknown }).allowedValue);
      unions.set(e.instancePath, list);
      continue;
    }
    if (e.keyword === 'anyOf' && unions.has(e.instancePath)) continue;
    const line = describe(e);
    if (!seen.has(line)) {
      seen.add(line);
      out.push(line);
    }
  }
  for (const [pointer, allowed] of unions) {
    out.push(`${jsonPointerToPath(pointer)}: must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return out;
}

/** Validates a plain object against the schema, filling defaults in place. */
export function validateConfig(doc: unknown): { ok: true; config: Config } | { ok: false; problems: string[] } {
  if (validate(doc)) return { ok: true, config: doc };
  return { ok: false, problems: schemaProblems(validate.errors) };
}

function resolvePaths(config: Config, base: string): string[] {
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(base, p));
  const watched: string[] = [];
  for (const p of config.pki) {
    p.cert = abs(p.cert);
    p.key = abs(p.key);
    watched.push(p.cert, p.key);
  }
  for (const t of Object.values(config.tables)) {
    if (t.file) {
      t.file = abs(t.file);
      watched.push(t.file);
    }
    if (t.files) {
      t.files = t.files.map(abs);
      watched.push(...t.files);
    }
  }
  const out = config.outbound;
  if (out.caFile) watched.push((out.caFile = abs(out.caFile)));
  for (const a of out.smarthostAuth) a.passwordFile = abs(a.passwordFile);
  for (const k of out.dkim) watched.push((k.keyFile = abs(k.keyFile)));
  if (out.srs) watched.push((out.srs.keyFile = abs(out.srs.keyFile)));
  config.queue.dir = abs(config.queue.dir);
  config.mailStore = abs(config.mailStore);
  return watched;
}

/** Reads, overrides, validates and cross-checks a config file; throws ConfigError listing every problem. */
export function loadConfig(file: string, sets: string[] = []): LoadedConfig {
  const path = resolve(file);
  let doc: unknown;
  try {
    doc = yaml.load(readFileSync(path, 'utf8'), { filename: path });
  } catch (err) {
    throw new ConfigError(path, [(err as Error).message]);
  }
  if (doc === undefined || doc === null) doc = {};
  const problems: string[] = [];
  for (const s of sets) {
    const err = applySet(doc as Record<string, unknown>, s);
    if (err) problems.push(`--set ${s}: ${err}`);
  }
  if (problems.length) throw new ConfigError(path, problems);
  const v = validateConfig(doc);
  if (!v.ok) throw new ConfigError(path, v.problems);
  const config = v.config;
  config.hostname ??= osHostname();
  const watched = resolvePaths(config, dirname(path));
  const cross = crossCheck(config);
  if (cross.length) throw new ConfigError(path, cross);
  return { config, file: path, watched };
}
