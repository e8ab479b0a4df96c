// Building blocks for the CRD schemas. Every helper emits a schema that is both valid for ajv and
// *structural* for the Kubernetes API server (every node typed, maps as additionalProperties, enums as
// string enums, no anyOf/oneOf), so one TypeBox value serves validation, types and crds/*.yaml.
import { Type, type Static, type TSchema, type TUnsafe, type SchemaOptions } from '@sinclair/typebox';
import { FAMILIES } from '../../relay/config/index.ts';

/** A string enum: `{type: string, enum: [...]}` (TypeBox's Union of Literals would be anyOf, not structural). */
export function StringEnum<const T extends readonly string[]>(values: T, options: SchemaOptions = {}): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });
}

/** A map with string keys: `{type: object, additionalProperties: V}`. */
export function StringMap<V extends TSchema>(value: V, options: SchemaOptions = {}): TUnsafe<Record<string, Static<V>>> {
  return Type.Unsafe<Record<string, Static<V>>>({ type: 'object', additionalProperties: value, ...options });
}

/** A Kubernetes quantity (`1Gi`, `500m`, `2`): int-or-string, as the API server stores it. */
export function Quantity(options: SchemaOptions = {}): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$',
    ...options,
  });
}

/** A DNS-1123 object name in the same namespace. */
export const ObjectName = (options: SchemaOptions = {}) =>
  Type.String({ minLength: 1, maxLength: 253, pattern: '^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$', ...options });

/** `{name: …}`: a reference to an object of a known kind in the same namespace. */
export function LocalRef(description: string) {
  return Type.Object({ name: ObjectName() }, { description });
}

/** `{name, key}`: a key of a Secret in the same namespace. */
export function SecretKeyRef(defaultKey: string, description: string) {
  return Type.Object(
    { name: ObjectName(), key: Type.String({ minLength: 1, default: defaultKey, pattern: '^[-._a-zA-Z0-9]+$' }) },
    { description },
  );
}

export const Labels = () => StringMap(Type.String(), { description: 'Label keys and values.' });

export const LabelSelector = (options: SchemaOptions = {}) =>
  Type.Object({ matchLabels: Type.Optional(Labels()) }, { description: 'Selects objects by labels; empty selects all.', ...options });

/** A domain name, or a pattern with `*` labels (OpenSMTPD wildcards: `*.example.org`, `example.*`). */
export const DomainPattern = (options: SchemaOptions = {}) =>
  Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^(\\*|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)(\\.(\\*|[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?))*$',
    ...options,
  });

export const MailAddress = (options: SchemaOptions = {}) => Type.String({ minLength: 3, maxLength: 320, pattern: '^[^@\\s]+@[^@\\s]+$', ...options });

/** A mailbox or a forward target: a local user name (`max`) or an address (`moritz@example.net`). */
export const Target = (options: SchemaOptions = {}) => Type.String({ minLength: 1, maxLength: 320, pattern: '^[^\\s,:]+$', ...options });

export const Family = (options: SchemaOptions = {}) =>
  StringEnum(FAMILIES, { description: 'Address family (OpenSMTPD `listen on inet4`, `limit mta inet4`).', ...options });

/** metav1.Condition, as in every Kubernetes API since 1.19. */
export const ConditionSchema = Type.Object({
  type: Type.String({ maxLength: 316 }),
  status: StringEnum(['True', 'False', 'Unknown'] as const),
  reason: Type.String({ maxLength: 1024 }),
  message: Type.String({ maxLength: 32768 }),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  lastTransitionTime: Type.String({ format: 'date-time' }),
});
export type Condition = Static<typeof ConditionSchema>;

/** The status fields every kind has; kinds add their own. */
export const CommonStatus = {
  observedGeneration: Type.Optional(Type.Integer({ description: 'The metadata.generation the status describes.' })),
  conditions: Type.Optional(
    Type.Array(ConditionSchema, {
      description: 'Ready (True/False with a reason and a message naming the field at fault).',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
    }),
  ),
};

export const ObjectMetaSchema = Type.Object(
  {
    name: Type.String(),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    resourceVersion: Type.Optional(Type.String()),
    creationTimestamp: Type.Optional(Type.String()),
    deletionTimestamp: Type.Optional(Type.String()),
    labels: Type.Optional(Labels()),
    annotations: Type.Optional(StringMap(Type.String())),
  },
  { additionalProperties: true },
);
export type ObjectMeta = Static<typeof ObjectMetaSchema>;
