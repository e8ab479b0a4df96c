// The API reference in docs/operator.md, generated from the same schemas as the CRDs
// (`node operator/api/reference.ts` rewrites the block between the markers; the CRD test checks it).
import { readFileSync, writeFileSync } from 'node:fs';
import { kinds } from './kinds.ts';
import type { KindDef } from './kind.ts';

type S = { type?: string; description?: string; default?: unknown; enum?: string[]; properties?: Record<string, S>; items?: S; additionalProperties?: S | boolean; required?: string[]; minimum?: number; maximum?: number; pattern?: string; 'x-kubernetes-int-or-string'?: boolean };

export const DOC = new URL('../../docs/operator.md', import.meta.url).pathname;
const BEGIN = '<!-- BEGIN GENERATED API REFERENCE (operator/api/reference.ts) -->';
const END = '<!-- END GENERATED API REFERENCE -->';

function typeOf(s: S): string {
  if (s['x-kubernetes-int-or-string']) return 'quantity';
  if (s.enum) return s.enum.map((e) => `\`${e}\``).join(' \\| ');
  if (s.type === 'array') return `[]${s.items ? typeOf(s.items) : ''}`;
  if (s.type === 'object' && typeof s.additionalProperties === 'object') return `map[string]${typeOf(s.additionalProperties)}`;
  return s.type ?? 'any';
}

function rows(s: S, prefix: string, out: string[]): void {
  for (const [name, p] of Object.entries(s.properties ?? {})) {
    const path = `${prefix}${name}`;
    const notes = [p.description ?? '', p.default !== undefined && JSON.stringify(p.default) !== '{}' ? `Default \`${JSON.stringify(p.default)}\`.` : '', (s.required ?? []).includes(name) && p.default === undefined ? '**Required.**' : '', p.minimum !== undefined || p.maximum !== undefined ? `Range ${p.minimum ?? ''}…${p.maximum ?? ''}.` : '']
      .filter(Boolean)
      .join(' ')
      .replace(/\|/g, '\\|')
      .replace(/\n/g, ' ');
    out.push(`| \`${path}\` | ${typeOf(p)} | ${notes} |`);
    if (p.properties) rows(p, `${path}.`, out);
    if (p.type === 'array' && p.items?.properties) rows(p.items, `${path}[].`, out);
  }
}

export function reference(): string {
  const out: string[] = [BEGIN, ''];
  for (const k of kinds) {
    const def = k as unknown as KindDef;
    out.push(`### ${def.kind} (\`${def.plural}.kubemta.io\`, short name ${def.shortNames.map((n) => `\`${n}\``).join(', ')})`, '', def.description, '', '| field | type | meaning |', '| --- | --- | --- |');
    rows(def.spec as unknown as S, 'spec.', out);
    const status: string[] = [];
    rows(def.status as unknown as S, 'status.', status);
    out.push(...status.filter((r) => !r.includes('status.conditions[]')), '');
  }
  out.push(END);
  return out.join('\n');
}

export function withReference(doc: string): string {
  const a = doc.indexOf(BEGIN);
  const b = doc.indexOf(END);
  if (a < 0 || b < 0) throw new Error('docs/operator.md lacks the reference markers');
  return doc.slice(0, a) + reference() + doc.slice(b + END.length);
}

if (import.meta.main) {
  writeFileSync(DOC, withReference(readFileSync(DOC, 'utf8')));
}
