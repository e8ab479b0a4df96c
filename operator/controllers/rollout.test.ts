// The pod diagnosis behind Stalled/Reconciling (rollout.ts): pods as the API server returns them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { podProblem } from './rollout.ts';

const now = Date.parse('2026-01-01T00:10:00Z');
const pod = (status: Record<string, unknown>, createdSecondsAgo = 120) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'post-abc', creationTimestamp: new Date(now - createdSecondsAgo * 1000).toISOString() },
  spec: { volumes: [{ persistentVolumeClaim: { claimName: 'post-queue' } }, { persistentVolumeClaim: { claimName: 'post-mail' } }] },
  status,
});
const waiting = (reason: string, extra: Record<string, unknown> = {}) => ({ phase: 'Pending', containerStatuses: [{ name: 'relay', ready: false, restartCount: 0, state: { waiting: { reason, message: 'm' } }, ...extra }] });
const phases: Record<string, string> = { 'post-queue': 'Pending', 'post-mail': 'Bound' };
const claim = (n: string) => phases[n];

describe('operator/controllers rollout: why a relay pod is not ready', () => {
  it('an unbound claim: Reconciling while young, Stalled ClaimUnbound naming the claim after stallAfterMs', () => {
    const unscheduled = { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: '0/1 nodes are available: 1 pod has unbound immediate PersistentVolumeClaims.' }] };
    const young = podProblem(pod(unscheduled, 3), now, claim, 60_000);
    assert.deepEqual([young.stalled, young.reason], [false, 'ClaimUnbound']);
    const old = podProblem(pod(unscheduled, 120), now, claim, 60_000);
    assert.deepEqual([old.stalled, old.reason], [true, 'ClaimUnbound']);
    assert.match(old.message, /^pod post-abc is Pending: claim post-queue \(Pending\) not bound: 0\/1 nodes/);
  });

  it('unschedulable for another reason, after the grace: Stalled Unschedulable', () => {
    phases['post-queue'] = 'Bound';
    const p = podProblem(pod({ phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'False', message: '0/1 nodes are available: 1 node(s) didn\'t match node selector.' }] }), now, claim, 60_000);
    assert.deepEqual([p.stalled, p.reason], [true, 'Unschedulable']);
    assert.match(p.message, /node selector/);
  });

  it('an image that cannot be pulled, a crash loop, a missing Secret: Stalled at once, with the container and the detail', () => {
    for (const r of ['ErrImagePull', 'ImagePullBackOff', 'ErrImageNeverPull']) {
      assert.deepEqual([podProblem(pod(waiting(r), 1), now, claim).reason, podProblem(pod(waiting(r), 1), now, claim).stalled], ['ImagePullFailed', true], r);
    }
    const crash = podProblem(pod(waiting('CrashLoopBackOff', { restartCount: 4, lastState: { terminated: { reason: 'Error', exitCode: 1 } } })), now, claim);
    assert.deepEqual([crash.stalled, crash.reason, crash.message], [true, 'CrashLoop', 'pod post-abc: container relay restarted 4 time(s), last exit Error (code 1)']);
    assert.equal(podProblem(pod(waiting('CreateContainerConfigError')), now, claim).reason, 'ContainerConfigError');
  });

  it('starting (ContainerCreating, running but not ready yet): Reconciling RollingOut', () => {
    const p = podProblem(pod(waiting('ContainerCreating'), 2), now, claim);
    assert.deepEqual([p.stalled, p.reason, p.message], [false, 'RollingOut', 'pod post-abc is Pending (ContainerCreating), not ready yet']);
    const running = podProblem(pod({ phase: 'Running', containerStatuses: [{ name: 'relay', ready: false, restartCount: 0, state: {} }] }), now, claim);
    assert.deepEqual([running.stalled, running.reason], [false, 'RollingOut']);
  });
});
