// Events for what the operator did (core/v1 Events). The same reason words as the Ready condition; an
// event is emitted when an object's (reason, message) changes, not on every reconcile. Messages are
// built from names and fields only, never from Secret content.
import { type KubeClient, type KubeObjectLike } from '../kube/client.ts';
import { Resources } from '../api/resources.ts';

export class EventRecorder {
  private readonly client: KubeClient;
  private readonly component: string;
  private readonly last = new Map<string, string>();
  readonly emitted: { object: string; type: string; reason: string; message: string }[] = [];

  constructor(client: KubeClient, component = 'kubemta-operator') {
    this.client = client;
    this.component = component;
  }

  /** Records an event unless the same (reason, message) was the last one for this object. */
  async record(obj: KubeObjectLike, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = obj.metadata.namespace ?? 'default';
    const key = `${obj.kind}/${ns}/${obj.metadata.name}`;
    const sig = `${type}/${reason}/${message}`;
    if (this.last.get(key) === sig) return;
    this.last.set(key, sig);
    this.emitted.push({ object: key, type, reason, message });
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    await this.client
      .create(Resources.Event, ns, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${obj.metadata.name}.`, namespace: ns },
        involvedObject: { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: ns, uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion },
        reason,
        message: message.slice(0, 1024),
        type,
        source: { component: this.component },
        reportingComponent: this.component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      })
      .catch(() => {
        this.last.delete(key); // try again next time; an event is never worth failing a reconcile
      });
  }

  forget(key: string): void {
    this.last.delete(key);
  }
}
