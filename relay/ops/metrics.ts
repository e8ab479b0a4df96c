// Prometheus metrics, one registry per relay (no process-wide singleton, so tests can run two relays).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface QueueStats {
  size(): number;
  oldestReceivedAt(): number | undefined;
}

/** The rate limiter's tables, for their size and evictions (relay/limits/rates.ts). */
export interface RateTables {
  clients: { size: number; evicted: number };
  senders: { size: number; evicted: number };
}

export class RelayMetrics {
  readonly registry = new Registry();
  readonly connections = new Counter({ name: 'kubemta_connections_total', help: 'SMTP connections accepted', labelNames: ['listener'], registers: [this.registry] });
  readonly activeSessions = new Gauge({ name: 'kubemta_sessions_active', help: 'SMTP sessions open now', labelNames: ['listener'], registers: [this.registry] });
  readonly accepted = new Counter({ name: 'kubemta_messages_accepted_total', help: 'Messages queued and answered 250', labelNames: ['listener'], registers: [this.registry] });
  readonly refused = new Counter({ name: 'kubemta_refusals_total', help: 'Refused commands and messages, by reason', labelNames: ['listener', 'reason'], registers: [this.registry] });
  readonly tlsHandshakes = new Counter({ name: 'kubemta_tls_handshakes_total', help: 'Completed TLS handshakes (STARTTLS and implicit)', labelNames: ['listener'], registers: [this.registry] });
  readonly authFailures = new Counter({ name: 'kubemta_auth_failures_total', help: 'Failed AUTH attempts', labelNames: ['listener'], registers: [this.registry] });
  readonly commitSeconds = new Histogram({
    name: 'kubemta_queue_commit_seconds',
    help: 'End of DATA to durable commit (the wait before 250)',
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly reloads = new Counter({ name: 'kubemta_config_reloads_total', help: 'Config reloads by result', labelNames: ['result'], registers: [this.registry] });
  readonly intakeVerdicts = new Counter({ name: 'kubemta_intake_verdicts_total', help: 'Intake check decisions (check: dmarc, filter; verdict: what was done)', labelNames: ['listener', 'check', 'verdict'], registers: [this.registry] });
  readonly deliveries = new Counter({ name: 'kubemta_deliveries_total', help: 'Delivery outcomes per recipient', labelNames: ['agent', 'result'], registers: [this.registry] });

  readonly dane = new Counter({
    name: 'kubemta_dane_total',
    help: 'DANE (RFC 7672) outcomes of onward deliveries: verified, failed (certificate matches no TLSA record), unusable (TLSA lookup failed), ignored (TLSA records without DNSSEC)',
    labelNames: ['result'],
    registers: [this.registry],
  });

  /** Gauges of the rate limiter's tables: how many windows they hold, how many they had to forget. */
  watchRates(rates: RateTables): void {
    const gauges = [
      ['kubemta_rate_limit_windows', 'Rate-limit windows held (bounded by limits.rates.maxTracked per table)', 'size'],
      ['kubemta_rate_limit_evicted', 'Rate-limit windows forgotten early because their table was full, since start', 'evicted'],
    ] as const;
    for (const [name, help, field] of gauges) {
      new Gauge({
        name,
        help,
        labelNames: ['table'],
        registers: [this.registry],
        collect() {
          this.set({ table: 'client' }, rates.clients[field]);
          this.set({ table: 'sender' }, rates.senders[field]);
        },
      });
    }
  }

  constructor(queue: QueueStats) {
    collectDefaultMetrics({ register: this.registry, prefix: 'kubemta_process_' });
    new Gauge({
      name: 'kubemta_queue_messages',
      help: 'Messages in the queue',
      registers: [this.registry],
      collect() {
        this.set(queue.size());
      },
    });
    new Gauge({
      name: 'kubemta_queue_oldest_age_seconds',
      help: 'Age of the oldest queued message',
      registers: [this.registry],
      collect() {
        const t = queue.oldestReceivedAt();
        this.set(t === undefined ? 0 : (Date.now() - t) / 1000);
      },
    });
  }
}
