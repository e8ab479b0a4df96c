// MailServer.spec.authentication/.filter and Listener.spec.intake: rendered into the relay's `intake`
// (validated by the relay's own schema), the three ways to reach rspamd (url, an existing Service, a
// sidecar), and the sidecar's pod still passing the restricted Pod Security Standard.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from '../../relay/config/index.ts';
import { validateObject } from '../api/validate.ts';
import { render, type ServerRender } from './render.ts';
import { seedSnapshot } from '../../test/render-kit.ts';
import { kubemtaViolations, podTemplates, restrictedViolations } from '../../e2e/pss.ts';
import type { Snapshot } from './snapshot.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function rendered(edit: (s: Snapshot) => void): ServerRender {
  const s = seedSnapshot();
  edit(s);
  const out = render(s, {});
  assert.equal(out.servers.length, 1);
  return out.servers[0];
}

function relayIntake(r: ServerRender): Any {
  assert.equal(r.held, false, r.problems.join('; '));
  const v = validateConfig(structuredClone(r.config));
  assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
  return v.config;
}

const workloadOf = (r: ServerRender): Any => r.manifests.find((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet') as Any;

describe('operator/render: intake (authentication, filter)', () => {
  it('renders nothing for a MailServer without them: the relay\'s checks stay off', () => {
    const r = rendered(() => {});
    assert.equal((r.config as Any).intake, undefined);
    const c = relayIntake(r);
    assert.equal(c.intake.authentication.enabled, false);
    assert.equal(c.intake.filter.url, undefined);
  });

  it('renders spec.authentication and a Listener\'s override of it', () => {
    const r = rendered((s) => {
      s.mailServers[0].spec.authentication = { enabled: true, dmarcReject: 'reject', dmarcQuarantine: 'mark', timeoutSeconds: 20 };
      s.listeners[0].spec.intake = { authentication: { dmarcReject: 'none' } };
    });
    const c = relayIntake(r);
    assert.deepEqual(c.intake.authentication, { enabled: true, dmarcReject: 'reject', dmarcQuarantine: 'mark', timeoutSeconds: 20 });
    assert.deepEqual(c.intake.filter.enabled, false);
    assert.deepEqual(c.listeners[0].intake, { authentication: { dmarcReject: 'none' } });
  });

  it('reaches rspamd by url or by an existing Service in the MailServer\'s namespace', () => {
    const byUrl = relayIntake(rendered((s) => void (s.mailServers[0].spec.filter = { url: 'http://rspamd.filters.svc:11333', timeoutSeconds: 15, onFailure: 'accept' })));
    assert.deepEqual(byUrl.intake.filter, { enabled: true, url: 'http://rspamd.filters.svc:11333', timeoutSeconds: 15, onFailure: 'accept', maxBytes: 20 * 1024 * 1024 });
    const bySvc = rendered((s) => void (s.mailServers[0].spec.filter = { serviceRef: { name: 'rspamd', port: 11333 }, timeoutSeconds: 15, onFailure: 'tempfail' }));
    assert.equal(relayIntake(bySvc).intake.filter.url, `http://rspamd.${bySvc.server.metadata.namespace}.svc:11333`);
    assert.equal(workloadOf(bySvc).spec.template.spec.containers.length, 1, 'no sidecar');
  });

  it('runs rspamd as a sidecar on 127.0.0.1:11333 that passes the restricted Pod Security Standard with a read-only root', () => {
    const r = rendered((s) => void (s.mailServers[0].spec.filter = { sidecar: { image: 'rspamd/rspamd:3.11', imagePullPolicy: 'IfNotPresent' }, timeoutSeconds: 15, onFailure: 'tempfail' }));
    assert.equal(relayIntake(r).intake.filter.url, 'http://127.0.0.1:11333');
    const pod = workloadOf(r).spec.template;
    const sidecar = pod.spec.containers.find((c: Any) => c.name === 'rspamd');
    assert.equal(sidecar.image, 'rspamd/rspamd:3.11');
    assert.deepEqual(sidecar.readinessProbe.httpGet, { path: '/ping', port: 11333 });
    assert.deepEqual(sidecar.volumeMounts.map((m: Any) => m.mountPath), ['/var/lib/rspamd', '/run/rspamd']);
    for (const { pod: p } of podTemplates(r.manifests)) {
      assert.deepEqual(restrictedViolations(p), []);
      assert.deepEqual(kubemtaViolations(p), []);
    }
  });

  it('refuses a MailServer whose filter names no way, or two ways, to reach rspamd, naming the field', () => {
    for (const filter of [{}, { url: 'http://x:1', serviceRef: { name: 'rspamd' } }]) {
      const server = structuredClone(seedSnapshot().mailServers[0]) as Any;
      server.spec.filter = filter;
      const v = validateObject({ apiVersion: 'kubemta.io/v1alpha1', kind: 'MailServer', ...server });
      assert.deepEqual(v.ok ? [] : v.problems, ['spec.filter: give exactly one of url, serviceRef and sidecar']);
    }
  });
});
