// Leader election with a coordination.k8s.io/v1 Lease: acquire when free or expired, renew before the
// lease duration passes, and step down (stop working) when a renewal fails or hangs. Writes use the Lease's
// resourceVersion, so two candidates never both win (the loser gets 409). renewSeconds × 2 must stay below
// leaseSeconds, so a leader that lost contact stops before another can take over.
import { ApiError, CoreResources, type KubeClient, type KubeObjectLike } from './client.ts';

export interface LeaderOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds: number;
  renewSeconds: number;
}

interface Lease extends KubeObjectLike {
  spec: { holderIdentity?: string; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

function microTime(d: Date): string {
  return d.toISOString().replace(/(\.\d{3})Z$/, '$1000Z');
}

export class LeaderElector {
  private readonly client: KubeClient;
  private readonly opts: LeaderOptions;
  private timer: NodeJS.Timeout | undefined;
  private leading = false;
  private stopped = false;

  constructor(client: KubeClient, opts: LeaderOptions) {
    this.client = client;
    this.opts = opts;
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** One attempt to acquire or renew; true when we hold the lease afterwards. */
  async tryAcquireOrRenew(now = new Date()): Promise<boolean> {
    const { namespace, name, identity, leaseSeconds } = this.opts;
    let lease: Lease | undefined;
    try {
      lease = await this.client.get<Lease>(CoreResources.Lease, namespace, name);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    }
    const spec = { holderIdentity: identity, leaseDurationSeconds: leaseSeconds, renewTime: microTime(now) };
    if (!lease) {
      try {
        await this.client.create(CoreResources.Lease, namespace, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (err) {
        if (err instanceof ApiError && err.status === 409) return false;
        throw err;
      }
    }
    const held = lease.spec.holderIdentity;
    const renewed = lease.spec.renewTime ? Date.parse(lease.spec.renewTime) : 0;
    const expired = now.getTime() > renewed + (lease.spec.leaseDurationSeconds ?? leaseSeconds) * 1000;
    if (held && held !== identity && !expired) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...lease.spec,
        ...spec,
        ...(held !== identity ? { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 } : {}),
      },
    };
    try {
      await this.client.update(CoreResources.Lease, namespace, next);
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Calls onStart when elected and onStop when the lease is lost; keeps trying until stop(). */
  run(onStart: () => void, onStop: () => void, onError: (err: Error) => void = () => {}): void {
    const tick = async () => {
      if (this.stopped) return;
      let ok = false;
      let timer: NodeJS.Timeout | undefined;
      try {
        // a renewal that hangs counts as failed after renewSeconds, so a leader cut off from the API server
        // steps down (at most 2 × renewSeconds after its last renewal) before its lease can expire
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`lease renewal took longer than ${this.opts.renewSeconds} s`)), this.opts.renewSeconds * 1000);
        });
        ok = await Promise.race([this.tryAcquireOrRenew(), deadline]);
      } catch (err) {
        onError(err as Error);
      } finally {
        clearTimeout(timer);
      }
      if (ok && !this.leading) {
        this.leading = true;
        onStart();
      } else if (!ok && this.leading) {
        this.leading = false;
        onStop();
      }
      if (!this.stopped) {
        this.timer = setTimeout(tick, (this.leading ? this.opts.renewSeconds : this.opts.renewSeconds / 2) * 1000);
      }
    };
    void tick();
  }

  /** Stops renewing and gives the lease up, so a successor need not wait for it to expire. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.leading = false;
    try {
      const lease = await this.client.get<Lease>(CoreResources.Lease, this.opts.namespace, this.opts.name);
      if (lease.spec.holderIdentity === this.opts.identity) {
        await this.client.update(CoreResources.Lease, this.opts.namespace, { ...lease, spec: { ...lease.spec, holderIdentity: undefined, leaseDurationSeconds: 1 } });
      }
    } catch {
      // best effort: the lease expires anyway
    }
  }
}
