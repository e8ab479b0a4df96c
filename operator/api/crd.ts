// KindDef → apiextensions.k8s.io/v1 CustomResourceDefinition. The TypeBox schema is already structural
// (see fields.ts); this drops what the API server refuses or does not know (additionalProperties: false,
// TypeBox's symbols, `format` values it ignores) and adds the envelope and printer columns.
import { GROUP, VERSION, ageColumn, readyColumn, reasonColumn, type KindDef } from './kind.ts';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const DROP = new Set(['$id', 'title', 'additionalItems']);

/** A plain-JSON copy of a schema the API server accepts as structural. */
export function structural(schema: unknown): Json {
  if (Array.isArray(schema)) return schema.map(structural);
  if (schema === null || typeof schema !== 'object') return schema as Json;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(schema)) {
    if (DROP.has(k)) continue;
    if (k === 'additionalProperties' && v === false) continue;
    if (k === 'format' && v !== 'date-time') continue;
    if (k === 'properties' || k === 'patternProperties') {
      out[k] = Object.fromEntries(Object.entries(v as object).map(([p, s]) => [p, structural(s)]));
      continue;
    }
    out[k] = structural(v);
  }
  // int-or-string: the API server wants the anyOf branches without other keywords besides type
  if (out['x-kubernetes-int-or-string'] === true) delete out.pattern;
  // the API server checks a `default: {}` against `required` without filling the nested defaults
  // first, so a defaulted property is not listed as required there (ajv fills it before checking)
  if (Array.isArray(out.required) && out.properties && typeof out.properties === 'object') {
    const props = out.properties as Record<string, { default?: unknown }>;
    const req = (out.required as string[]).filter((r) => props[r]?.default === undefined);
    if (req.length) out.required = req;
    else delete out.required;
  }
  return out;
}

export function crdFor(def: KindDef): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'kubemta' } },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: { kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular, shortNames: def.shortNames, categories: ['kubemta'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {}, ...(def.scale ? { scale: def.scale } : {}) },
          additionalPrinterColumns: [...def.columns, readyColumn, reasonColumn, ageColumn].map((c) => structural(c)),
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: def.description,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: structural(def.spec),
                status: structural(def.status),
              },
            },
          },
        },
      ],
    },
  };
}
