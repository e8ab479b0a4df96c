// What a kind declares besides its schemas: names, printer columns. generate.ts turns a KindDef into a
// CustomResourceDefinition; validate.ts checks objects against the same schemas.
import { Type, type Static, type TObject, type TProperties } from '@sinclair/typebox';
import { ObjectMetaSchema } from './fields.ts';

export const GROUP = 'kubemta.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface KindDef<Spec extends TObject = TObject, Status extends TObject = TObject> {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  spec: Spec;
  status: Status;
  /** Printed by `kubectl get` between the name and Ready/Age. */
  columns: PrinterColumn[];
  /** The scale subresource (`kubectl scale`, a HorizontalPodAutoscaler): where replicas and the pods' selector are. */
  scale?: { specReplicasPath: string; statusReplicasPath: string; labelSelectorPath: string };
}

export function defineKind<Spec extends TObject, Status extends TObject>(def: KindDef<Spec, Status>): KindDef<Spec, Status> {
  return def;
}

/** The whole object schema (apiVersion, kind, metadata, spec, status) for ajv. */
export function objectSchema<Spec extends TObject, Status extends TObject>(def: KindDef<Spec, Status>) {
  return Type.Object({
    apiVersion: Type.Literal(API_VERSION),
    kind: Type.Literal(def.kind),
    metadata: ObjectMetaSchema,
    spec: def.spec,
    status: Type.Optional(def.status),
  });
}

/** The static type of an object of a kind (spec after defaults are filled). */
export type KubeObject<Spec extends TObject, Status extends TObject> = {
  apiVersion: string;
  kind: string;
  metadata: Static<typeof ObjectMetaSchema>;
  spec: Static<Spec>;
  status?: Static<Status>;
};

export type Props = TProperties;

export const readyColumn: PrinterColumn = { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' };
export const reasonColumn: PrinterColumn = { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 };
export const ageColumn: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
