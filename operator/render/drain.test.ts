// Which queue claims a scale-down leaves behind, and the Job that drains one: the relay's own pod in drain
// mode on that claim, under the restricted Pod Security Standard, outside the relay Service's selector.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { render } from './render.ts';
import { drainJob, orphanedClaims, reusedClaims, DRAINED_ANNOTATION } from './drain.ts';
import { seedSnapshot } from '../../test/render-kit.ts';
import { kubemtaViolations, podTemplates, restrictedViolations } from '../../e2e/pss.ts';
import type { MailServer } from '../api/mailserver.ts';

const claim = (name: string, annotations?: Record<string, string>) => ({
  metadata: { name, labels: { 'kubemta.io/mailserver': 'post', 'app.kubernetes.io/component': name.includes('mail') ? 'mail' : 'queue' }, ...(annotations ? { annotations } : {}) },
});

function server(replicas: number): MailServer {
  const s = structuredClone(seedSnapshot().mailServers[0]);
  s.spec.replicas = replicas;
  return s;
}

describe('operator/render/drain', () => {
  const all = [claim('post-queue'), claim('post-mail'), ...[0, 1, 2].flatMap((i) => [claim(`queue-post-${i}`), claim(`mail-post-${i}`)]), claim('queue-postman-1')];

  it('3 → 2 replicas leaves ordinal 2\'s queue; 3 → 1 (a Deployment again) leaves all three', () => {
    assert.deepEqual(orphanedClaims(server(2), all).map((c) => [c.queue, c.mail, c.id]), [['post-queue', 'post-mail', 'single'], ['queue-post-2', 'mail-post-2', '2']]);
    assert.deepEqual(orphanedClaims(server(1), all).map((c) => c.queue), ['queue-post-0', 'queue-post-1', 'queue-post-2']);
    assert.deepEqual(orphanedClaims(server(3), all).map((c) => c.queue), ['post-queue'], 'the Deployment\'s claim, once it is a StatefulSet');
  });

  it('a drained mark is reported, and cleared once a replica mounts the claim again', () => {
    const marked = [claim('queue-post-2', { [DRAINED_ANNOTATION]: '2026-12-06T00:00:00Z' })];
    assert.equal(orphanedClaims(server(2), marked)[0].drained, true);
    assert.deepEqual(reusedClaims(server(2), marked), []);
    assert.deepEqual(reusedClaims(server(3), marked), ['queue-post-2']);
  });

  it('renders a Job that runs the relay pod in drain mode on the orphaned claims, passing the restricted profile, outside the Service selector', () => {
    const s = server(3);
    const workload = render({ ...seedSnapshot(), mailServers: [s] }).servers[0].manifests.find((m) => m.kind === 'StatefulSet')!;
    const job = drainJob(s, workload, { queue: 'queue-post-2', mail: 'mail-post-2', id: '2', drained: false });
    assert.equal(job.metadata.name, 'post-drain-2');
    const [{ pod }] = podTemplates([job]);
    assert.deepEqual(restrictedViolations(pod), []);
    assert.deepEqual(kubemtaViolations(pod), []);
    const spec = pod.spec as unknown as { restartPolicy: string; containers: { args: string[]; ports?: unknown; readinessProbe?: unknown }[]; volumes: { name: string; persistentVolumeClaim?: { claimName: string } }[] };
    assert.equal(spec.restartPolicy, 'OnFailure');
    assert.deepEqual(spec.containers[0].args.slice(-3), ['--drain', '--set', 'outbound.retry.maxSeconds=60']);
    assert.equal(spec.containers[0].ports, undefined);
    assert.equal(spec.containers[0].readinessProbe, undefined);
    const claims = spec.volumes.filter((v) => v.persistentVolumeClaim).map((v) => [v.name, v.persistentVolumeClaim!.claimName]);
    assert.deepEqual(claims, [['queue', 'queue-post-2'], ['mail', 'mail-post-2']]);
    // the relay Service selects app.kubernetes.io/name=kubemta; the drain pod must not receive SMTP
    const labels = (pod as unknown as { metadata: { labels: Record<string, string> } }).metadata.labels;
    assert.notEqual(labels['app.kubernetes.io/name'], 'kubemta');
  });
});
