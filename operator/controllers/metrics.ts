// /metrics for the operator: reconciles and their durations per kind, errors, API requests by verb,
// informer health, leadership. Its own registry: no module-level singletons. Reconcile results start at 0
// for every kind, so an error rate can be read before the first error.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

export class OperatorMetrics {
  readonly registry = new Registry();
  readonly reconciles = new Counter({ name: 'kubemta_operator_reconciles_total', help: 'Reconciles by kind and result.', labelNames: ['kind', 'result'], registers: [this.registry] });
  readonly duration = new Histogram({ name: 'kubemta_operator_reconcile_seconds', help: 'Reconcile duration by kind.', labelNames: ['kind'], buckets: [0.005, 0.02, 0.1, 0.5, 2, 10], registers: [this.registry] });
  readonly writes = new Counter({ name: 'kubemta_operator_object_writes_total', help: 'Objects written (applied or deleted) by kind.', labelNames: ['kind', 'verb'], registers: [this.registry] });
  readonly skipped = new Counter({ name: 'kubemta_operator_unchanged_skips_total', help: 'Objects not written because their content hash was unchanged.', labelNames: ['kind'], registers: [this.registry] });
  readonly leader = new Gauge({ name: 'kubemta_operator_leader', help: '1 while this replica holds the lease.', registers: [this.registry] });
  readonly informerSynced = new Gauge({ name: 'kubemta_operator_informer_synced', help: '1 when a watch cache has listed.', labelNames: ['resource'], registers: [this.registry] });
  readonly conflicts = new Counter({ name: 'kubemta_operator_apply_conflicts_total', help: '409 conflicts on apply (another field manager owned a field), retried with force.', labelNames: ['kind'], registers: [this.registry] });
  readonly recreated = new Counter({ name: 'kubemta_operator_recreated_total', help: 'Objects deleted (orphaning their pods) and created again because a field changed that the API server does not let change.', labelNames: ['kind'], registers: [this.registry] });
  readonly podNudges = new Counter({ name: 'kubemta_operator_pod_nudges_total', help: 'Relay pods annotated with kubemta.io/volumes-hash after a mounted ConfigMap/Secret changed (the kubelet then refreshes the files at once).', registers: [this.registry] });
  readonly apiRequests = new Gauge({ name: 'kubemta_operator_api_requests', help: 'API requests by verb since start.', labelNames: ['verb'], registers: [this.registry] });

  constructor(kinds: readonly string[] = []) {
    for (const kind of kinds) for (const result of ['ok', 'error']) this.reconciles.inc({ kind, result }, 0);
  }
}
