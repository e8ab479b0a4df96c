// The pod diagnosis behind Stalled/Reconciling (rollout.ts): pods as the API server returns them.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { judgeRollout, podProblem } from './rollout.ts';
import type { ControllerContext } from './context.ts';
import { render } from '../render/render.ts';
import { seedSnapshot } from '../../test/render-kit.ts';

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

describe('operator/controllers rollout: the workload and the handshake', () => {
  const manifests = render(seedSnapshot()).servers[0].manifests;
  const want = manifests.find((m) => m.kind === 'Deployment')!;
  const readyPod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'post-abc' }, status: { phase: 'Running', podIP: '10.244.0.9', conditions: [{ type: 'Ready', status: 'True' }] } };
  const rolledOut = { observedGeneration: 2, replicas: 1, updatedReplicas: 1, readyReplicas: 1, availableReplicas: 1 };
  let clock = Date.parse('2026-01-01T00:00:00Z');
  const ctxWith = (status: Record<string, unknown>, pods: unknown[] = [readyPod]) =>
    ({
      informers: {
        Deployment: { get: () => ({ ...want, metadata: { ...want.metadata, generation: 2 }, status }) },
        PersistentVolumeClaim: { get: () => ({ status: { phase: 'Bound' } }) },
      },
      client: { list: async () => ({ items: pods }) },
      now: () => new Date(clock),
      stallAfterMs: 60_000,
      notLoaded: new Map(),
      drainJobs: new Map(),
    }) as unknown as ControllerContext;

  it('Ready only when rolled out and the relay serves what was rendered', async () => {
    const ctx = ctxWith(rolledOut);
    const r = await judgeRollout(ctx, 'default', manifests, 'c1/t1', false, async (ip) => (ip === '10.244.0.9' ? 'c1/t1' : undefined));
    assert.deepEqual(r, { status: { replicas: 1, readyReplicas: 1, relays: '1/1' } });
  });

  it('Reconciling while the workload is applied, its generation not observed, or replicas not available', async () => {
    const served = async () => 'c1/t1';
    const wrote = await judgeRollout(ctxWith(rolledOut), 'default', manifests, 'c1/t1', true, served);
    assert.deepEqual([wrote.verdict?.reason, wrote.verdict?.waiting], ['RollingOut', true]);
    const stale = await judgeRollout(ctxWith({ ...rolledOut, observedGeneration: 1 }), 'default', manifests, 'c1/t1', false, served);
    assert.equal(stale.verdict?.message, 'Deployment/post: generation 2 not observed yet');
    const unavailable = await judgeRollout(ctxWith({ ...rolledOut, availableReplicas: 0, readyReplicas: 0 }), 'default', manifests, 'c1/t1', false, served);
    assert.deepEqual([unavailable.verdict?.reason, unavailable.status.relays], ['RollingOut', '0/1']);
    const old = await judgeRollout(ctxWith({ ...rolledOut, replicas: 2 }), 'default', manifests, 'c1/t1', false, served);
    assert.equal(old.verdict?.reason, 'RollingOut', 'an old pod still there');
  });

  it('a relay on another config: Reconciling ConfigNotLoaded, Stalled after the grace (a refused reload), Ready once it serves it', async () => {
    const ctx = ctxWith(rolledOut);
    let serving: string | undefined = 'c0/t0';
    const served = async () => serving;
    const first = await judgeRollout(ctx, 'default', manifests, 'c1/t1', false, served);
    assert.deepEqual([first.verdict?.reason, first.verdict?.waiting, first.verdict?.message], ['ConfigNotLoaded', true, 'pod post-abc serves config/tables c0/t0, want c1/t1']);
    clock += 61_000;
    const later = await judgeRollout(ctx, 'default', manifests, 'c1/t1', false, served);
    assert.deepEqual([later.verdict?.reason, later.verdict?.waiting], ['ConfigNotLoaded', undefined]);
    assert.match(later.verdict!.message, /for 61 s: did the relay refuse to reload it\?/);
    serving = undefined;
    const silent = await judgeRollout(ctx, 'default', manifests, 'c2/t1', false, served);
    assert.deepEqual([silent.verdict?.waiting, silent.verdict?.message], [true, 'pod post-abc does not answer on its ops port, want c2/t1'], 'a new config wanted: the grace starts again');
    serving = 'c2/t1';
    assert.equal((await judgeRollout(ctx, 'default', manifests, 'c2/t1', false, served)).verdict, undefined);
    assert.equal(ctx.notLoaded.size, 0);
  });
});
