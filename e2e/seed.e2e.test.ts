// The e2e tier: the seed article's setup on a real node, from nothing, with real clients. Steps run in
// order and build on each other (one cluster, one install). Run alone: KUBEMTA_E2E=1 node --test
// e2e/seed.e2e.test.ts (root: the node needs it). KUBEMTA_E2E_KEEP=1 leaves everything installed;
// KUBEMTA_E2E_BUILD=0 reuses image/out/kubemta-image.tar. See e2e/README.md.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { join } from 'node:path';
import { PLAIN, ROOT } from '../deploy/generate.ts';

import { Names, SeedEnv } from './environment.ts';
import { condition, mustExec, type KubeObject } from './kube.ts';
import { certInfo, pythonSubmit, sendPlain, servedCert, swaks, testMessage } from './mail.ts';
import { kubemtaViolations, restrictedViolations, type PodTemplateLike } from './pss.ts';
import { until } from '../test/until.ts';
import { startDns } from '../test/dns-server.ts';
import { startRspamd } from '../test/rspamd.ts';

const enabled = process.env.KUBEMTA_E2E === '1';
const skip = enabled ? false : 'e2e tier: set KUBEMTA_E2E=1 (needs root; npm test does it)';
const log = (msg: string) => process.stderr.write(`[e2e] ${msg}\n`);

/** Container ports of the seed's listeners (port + 10000 below 1024). */
const INBOUND = 10025;
const SUBMISSION = 10587;
const DEMO = { user: 'max', password: 'demo-password' };

function virtualUser(name: string, spec: Record<string, unknown>, domain = 'example-org'): string {
  return JSON.stringify({ apiVersion: 'kubemta.io/v1alpha1', kind: 'VirtualUser', metadata: { name }, spec: { mailDomainRef: { name: domain }, ...spec } });
}

describe('e2e: the seed on a real node', { skip, timeout: 900_000 }, () => {
  let env: SeedEnv;
  let relay: KubeObject;
  let ip: string;
  const run = `r${Date.now().toString(36)}`; // ids in this run's messages
  let n = 0;
  const id = (what: string) => `${run}-${what}-${++n}`;

  before(async () => {
    env = await SeedEnv.start(log);
  });
  afterEach((t) => env?.lap(`  ${t.name.slice(0, 50)}`));
  after(async () => {
    await env?.stop();
    env?.lap('cleaned up');
  });

  it('installs from nothing: image, chart (operator pod), volumes, seed objects all Ready, relay Running', async () => {
    const { tag } = await env.image();
    await env.network();
    await env.helm('install');
    env.lap('helm install');
    const op = await until('the operator pod Ready', () => env.operatorPod(), 120_000);
    assert.equal((op.spec as { containers: { image: string }[] }).containers[0].image, tag);
    env.lap('operator pod Ready');
    await env.volumes();
    await env.cluster.kubectl(['apply', '-n', Names.mail, '-f', join(ROOT, 'examples/seed/k8s/')]);
    // the one change to the seed: onward mail goes to the receiving server this test runs on the host
    await env.cluster.kubectl(['patch', '-n', Names.mail, 'mailserver', Names.server, '--type=merge', '-p',
      JSON.stringify({ spec: { outbound: { smarthost: `smtp://${env.bridge}:${env.sink!.port}` } } })]);
    // and one user who forwards to another domain
    await env.cluster.kubectl(['apply', '-n', Names.mail, '-f', '-'], virtualUser('partner', { address: 'partner@example.org', forwardTo: ['partner@elsewhere.test'] }));
    env.lap('volumes and seed objects applied');
    await env.waitAllReady();
    env.lap('every object Ready');
    relay = await env.waitRelay();
    ip = env.relayIp(relay);
    env.lap(`relay pod Running and Ready (${ip})`);
    const claims = await env.cluster.list(['pvc', '-n', Names.mail]);
    assert.deepEqual(claims.map((c) => `${c.metadata.name}:${(c.status as { phase: string }).phase}`).sort(), ['post-mail:Bound', 'post-queue:Bound']);
  });

  it('validates deploy/kubemta.yaml against the API server (kubectl apply --dry-run=server)', async () => {
    // a real apply would start a second operator watching every namespace of the shared plane: dry run only
    const made = !(await env.cluster.find(['namespace', PLAIN.namespace]));
    if (made) await env.cluster.kubectl(['create', 'namespace', PLAIN.namespace]);
    try {
      const out = await env.cluster.kubectl(['apply', '--dry-run=server', '-f', join(ROOT, 'deploy/kubemta.yaml')]);
      assert.equal(out.trim().split('\n').filter((l) => l.endsWith('(server dry run)')).length, 13, out);
    } finally {
      if (made) await env.cluster.kubectl(['delete', 'namespace', PLAIN.namespace, '--wait=false']);
    }
  });

  it('runs the operator and the relay pods under the restricted Pod Security Standard', async () => {
    for (const pod of [await env.operatorPod(), await env.relayPod()]) {
      assert.ok(pod);
      const p = pod as unknown as PodTemplateLike & { metadata: { name: string } };
      assert.deepEqual([...restrictedViolations(p), ...kubemtaViolations(p)], [], p.metadata.name);
    }
  });

  it('serves the right certificate per hostname after STARTTLS on the port-25 listener (SNI)', async () => {
    const secret = async (name: string) => {
      const s = await env.cluster.get<{ data: Record<string, string> }>(['secret', '-n', Names.mail, name]);
      return certInfo(Buffer.from(s.data['tls.crt'], 'base64'));
    };
    const post = await secret('post-tls');
    const mail = await secret('mail-tls');
    assert.match(post.san, /DNS:post\.example\.org/);
    assert.match(mail.san, /DNS:mail\.example\.org/);
    assert.equal((await servedCert(ip, INBOUND, 'post.example.org')).fingerprint, post.fingerprint, 'SNI post.example.org');
    assert.equal((await servedCert(ip, INBOUND, 'mail.example.org')).fingerprint, mail.fingerprint, 'SNI mail.example.org: the server\'s other PkiCert');
    assert.equal((await servedCert(ip, INBOUND)).fingerprint, post.fingerprint, 'no SNI: the listener\'s pki post');
    assert.equal((await servedCert(ip, SUBMISSION)).fingerprint, mail.fingerprint, 'no SNI on 587: pki mail');
  });

  it('takes AUTH on 587 only after STARTTLS (python smtplib, swaks)', async () => {
    const to = 'friend@elsewhere.test';
    const mid = id('submit');
    const py = await pythonSubmit(ip, SUBMISSION, DEMO.user, DEMO.password, 'max@example.org', to, testMessage(mid, 'max@example.org', to));
    assert.equal(py.code, 0, py.stderr);
    const lines = py.stdout.trim().split('\n');
    assert.deepEqual(lines.slice(0, 4), ['ehlo-auth False', 'auth-before-tls 530', 'tls-auth True', 'auth 235'], py.stdout);
    // no TLS: the server neither offers nor takes AUTH, and MAIL is refused on the tls-require listener
    const plain = await swaks(ip, SUBMISSION, ['--from', 'max@example.org', '--to', to, '--auth-user', DEMO.user, '--auth-password', DEMO.password, '--auth', 'PLAIN']);
    assert.notEqual(plain.code, 0);
    assert.doesNotMatch(plain.transcript, /^<[-~]\s+235/m);
    const noAuth = await swaks(ip, SUBMISSION, ['--from', 'max@example.org', '--to', to, '--quit-after', 'MAIL']);
    assert.match(noAuth.transcript, /^<\*\*\s+530 5\.7\.0/m, noAuth.transcript);
    const bad = await swaks(ip, SUBMISSION, ['-tls', '--from', 'max@example.org', '--to', to, '--auth-user', DEMO.user, '--auth-password', 'wrong', '--auth', 'PLAIN']);
    assert.match(bad.transcript, /^<~\*\s+535 5\.7\.8/m, bad.transcript);
    const good = await swaks(ip, SUBMISSION, ['-tls', '--from', 'max@example.org', '--to', to, '--auth-user', DEMO.user, '--auth-password', DEMO.password,
      '--auth', 'PLAIN', '--header', `X-E2E-Id: ${id('swaks')}`]);
    assert.equal(good.code, 0, good.transcript);
    assert.match(good.transcript, /^<~\s+235/m);
    // authenticated mail to another domain goes to the smarthost
    await until('submitted mail at the smarthost', async () => env.sink!.count(mid) === 1, 30_000);
  });

  /** Waits until every id is in its mailbox; returns what is still missing on timeout (as an assertion). */
  async function delivered(expect: [id: string, mailbox: string][], ms = 30_000): Promise<void> {
    const missing = () => expect.filter(([i, box]) => env.mailboxes.count(box, i) === 0);
    await until('mail in its mailbox', async () => missing().length === 0, ms).catch(() => {
      assert.fail(`not delivered within ${ms / 1000} s: ${missing().map(([i, box]) => `${i} → ${box}`).join(', ')}`);
    });
  }
  const restarts = (pod: KubeObject) => (pod.status as { containerStatuses: { restartCount: number }[] }).containerStatuses[0].restartCount;

  it('delivers each Listing 2 and 3 address to its mailbox (mbox on the mail volume)', async () => {
    const cases: [rcpt: string, mailbox: string][] = [
      // Listing 2: virtusers for example.org (before Listing 3's rule)
      ['max.muster@example.org', 'max'], ['max@example.org', 'max'], ['mm@example.org', 'max'], ['moritz@example.org', 'moritz'],
      ['catchall@example.org', 'max'], ['someone-else@example.org', 'max'],
      // Listing 3: users for every domain in <domains>, wildcards included
      ['max@example.net', 'max'], ['max@example.com', 'max'], ['max@sub.example.org', 'max'], ['max@a.b.example.net', 'max'],
      ['moritz@example.net', 'moritz'], ['moritz@example.com', 'moritz'], ['moritz@shop.example.net', 'moritz'],
    ];
    const mails = cases.map(([to, box]) => ({ id: id(to.replace(/@.*/, '')), from: 'someone@elsewhere.test', to, box }));
    const replies = await sendPlain(ip, INBOUND, mails, { concurrency: 4 });
    for (const m of mails) assert.match(replies.get(m.id)!, /^250 /, `${m.to}: ${replies.get(m.id)}`);
    await delivered(mails.map((m) => [m.id, m.box]));
    for (const m of mails) {
      const other = m.box === 'max' ? 'moritz' : 'max';
      assert.equal(env.mailboxes.count(m.box, m.id), 1, `${m.to}: once in ${m.box}`);
      assert.equal(env.mailboxes.count(other, m.id), 0, `${m.to}: not in ${other}`);
    }
    // not ours, and no such user (no catch-all for Listing 3's domains): refused at RCPT time
    const refused = await sendPlain(ip, INBOUND, [
      { id: id('foreign'), from: 'someone@elsewhere.test', to: 'max@example.co.uk' },
      { id: id('unknown'), from: 'someone@elsewhere.test', to: 'nobody@example.net' },
    ]);
    assert.deepEqual([...refused.values()].map((r) => r.slice(0, 9)), ['550 5.7.1', '550 5.1.1']);
  });

  it('hands a forward to another domain to the smarthost (a receiving SMTP server on the host)', async () => {
    const mid = id('partner');
    const replies = await sendPlain(ip, INBOUND, [{ id: mid, from: 'someone@elsewhere.test', to: 'partner@example.org' }]);
    assert.match(replies.get(mid)!, /^250 /);
    const got = await until('the forward at the smarthost', async () => env.sink!.received.find((m) => m.data.includes(`X-E2E-Id: ${mid}\r\n`)), 30_000);
    assert.deepEqual(got.to, ['partner@elsewhere.test']);
  });

  it('checks SPF, DKIM and DMARC on the port-25 listener: Authentication-Results in the mailbox, p=reject refused', async () => {
    // a DNS server where pods reach the host, serving the test domains' records; the relay's checks use it
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dns = await startDns(
      {
        'signed.test': { txt: ['v=spf1 -all'] },
        '_dmarc.signed.test': { txt: ['v=DMARC1; p=reject'] },
        'sel._domainkey.signed.test': { txt: [`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`] },
        'reject.test': { txt: ['v=spf1 -all'] },
        '_dmarc.reject.test': { txt: ['v=DMARC1; p=reject'] },
      },
      { address: env.bridge },
    );
    const scratch = mkdtempSync(join(tmpdir(), 'kubemta-e2e-auth-'));
    const patch = (authentication: unknown) =>
      env.cluster.kubectl(['patch', '-n', Names.mail, 'mailserver', Names.server, '--type=merge', '-p', JSON.stringify({ spec: { authentication } })]);
    const send = async (from: string, raw: string) => {
      const file = join(scratch, `auth-${++n}.eml`);
      writeFileSync(file, raw);
      return swaks(ip, INBOUND, ['--helo', 'e2e.client.test', '--from', from, '--to', 'max@example.org', '--data', `@${file}`]);
    };
    try {
      await patch({ enabled: true, dmarcReject: 'reject', dnsServers: [dns.server] });
      const spec = (await env.cluster.get(['mailserver', '-n', Names.mail, Names.server])).spec as { authentication?: unknown };
      assert.ok(spec.authentication, 'spec.authentication kept by the API server (the CRD has the field)');
      // the config is served once a mail failing p=reject is refused (until then it is delivered, and ignored)
      const refused = await until('a DMARC p=reject failure refused', async () => {
        const r = await send('eve@reject.test', testMessage(id('dmarc-reject'), 'eve@reject.test', 'max@example.org'));
        return /<\*\* 550 5\.7\.1 /.test(r.transcript) ? r.transcript : undefined;
      }, 90_000, 1000);
      assert.match(refused, /Rejected by the DMARC policy/);
      env.lap('authentication on: p=reject refused');
      const mid = id('dkim-pass');
      const raw = testMessage(mid, 'alice@signed.test', 'max@example.org').replace('\r\n', '\r\nAuthentication-Results: post.example.org; dkim=pass header.d=forged.test\r\n');
      const key = { signingDomain: 'signed.test', selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
      const r = await send('alice@signed.test', (await dkimSign(raw, { ...key, signatureData: [key] })).signatures + raw);
      assert.match(r.transcript, /<- {2}250 /, r.transcript);
      const header = await until('the signed mail in max\'s mailbox', async () => {
        const text = env.mailboxes.text('max');
        const at = text.indexOf(`X-E2E-Id: ${mid}`);
        if (at < 0) return undefined;
        const start = text.lastIndexOf('\nFrom ', at);
        return text.slice(start, at);
      }, 30_000);
      const results = header.split(/\n(?![ \t])/).filter((f) => f.startsWith('Authentication-Results:'));
      assert.equal(results.length, 1, header);
      assert.match(results[0], /^Authentication-Results: post\.example\.org;/);
      assert.match(results[0], /dkim=pass[^;]*header\.i=@signed\.test/);
      assert.match(results[0], /dmarc=pass[^;]*header\.from=signed\.test/);
      assert.doesNotMatch(header, /forged\.test/);
    } finally {
      await patch(null);
      await dns.close();
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('hands every mail on the port-25 listener to rspamd (spec.filter.url) and acts on its verdict: reject, rewritten subject', async () => {
    // a private rspamd where pods reach the host; its test rules answer by the Subject (test/rspamd.ts)
    const rspamd = await startRspamd({ address: env.bridge });
    const patch = (filter: unknown) =>
      env.cluster.kubectl(['patch', '-n', Names.mail, 'mailserver', Names.server, '--type=merge', '-p', JSON.stringify({ spec: { filter } })]);
    // the message's Subject is `e2e <id>`: the id carries the word the rule looks for
    const send = async (mid: string) => (await sendPlain(ip, INBOUND, [{ id: mid, from: 'someone@elsewhere.test', to: 'max@example.org' }])).get(mid)!;
    try {
      await patch({ url: rspamd.url, timeoutSeconds: 10, onFailure: 'tempfail' });
      // the config is served once a mail rspamd rejects is refused (until then it is delivered, and ignored)
      const refused = await until('a mail rspamd rejects refused', async () => {
        const r = await send(id('REJECTME'));
        return r.startsWith('550 5.7.1') ? r : undefined;
      }, 90_000, 1000);
      assert.match(refused, /^550 5\.7\.1 /);
      env.lap('filter on: rspamd reject refused');
      const mid = id('SUBJECTME');
      const accepted = await send(mid);
      assert.match(accepted, /^250 /, accepted);
      const header = await until('the filtered mail in max\'s mailbox', async () => {
        const text = env.mailboxes.text('max');
        const at = text.indexOf(`X-E2E-Id: ${mid}`);
        return at < 0 ? undefined : text.slice(text.lastIndexOf('\nFrom ', at), at);
      }, 30_000);
      assert.match(header, new RegExp(`^Subject: \\[SPAM\\] e2e ${mid}\\r?$`, 'm'), header);
      assert.match(await rspamd.log(), /KUBEMTA_TEST_REJECT/, 'rspamd itself saw the rejected mail');
    } finally {
      await patch(null);
      await rspamd.close();
    }
  });

  it('day 2: a new VirtualUser and a rotated PkiCert Secret reach the running relay without a restart', async () => {
    // both at once, each latency measured from its own change: the kubelet refreshes mounted Secrets on
    // its next pod sync, which the operator's volume nudge (an annotation on the pod) brings forward from
    // its 1-minute timer to now, so both arrive within seconds
    const before = (await env.relayPod())!;
    const dir = join(Names.dataDir, 'rotate');
    await mustExec('sh', ['-c', `mkdir -p '${dir}' && openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj /CN=post.example.org ` +
      `-addext subjectAltName=DNS:post.example.org -keyout '${dir}/tls.key' -out '${dir}/tls.crt' 2>/dev/null`]);
    const crt = readFileSync(join(dir, 'tls.crt'));
    const rotated = certInfo(crt).fingerprint;
    assert.notEqual((await servedCert(ip, INBOUND, 'post.example.org')).fingerprint, rotated);

    const t0 = Date.now();
    await env.cluster.kubectl(['apply', '-n', Names.mail, '-f', '-'], virtualUser('newbie', { address: 'newbie@example.org', mailbox: 'newbie' }));
    // a rotation as cert-manager does it: new tls.crt and tls.key in the PkiCert's Secret
    await env.cluster.kubectl(['patch', '-n', Names.mail, 'secret', 'post-tls', '--type=merge', '-p', JSON.stringify({
      data: { 'tls.crt': crt.toString('base64'), 'tls.key': readFileSync(join(dir, 'tls.key')).toString('base64') },
    })]);
    const t1 = Date.now();
    await env.waitAllReady(30_000);
    const ready = Date.now() - t0;

    // until the relay has the new table, mail for newbie@ goes to the catch-all (max): probe every 0.5 s
    const probes: string[] = [];
    let userAt = 0;
    let certAt = 0;
    await until('the new user\'s mailbox and the new certificate', async () => {
      if (!certAt && (await servedCert(ip, INBOUND, 'post.example.org')).fingerprint === rotated) certAt = Date.now();
      if (!userAt) {
        const pid = id('newbie');
        probes.push(pid);
        const r = await sendPlain(ip, INBOUND, [{ id: pid, from: 'someone@elsewhere.test', to: 'newbie@example.org' }]);
        assert.match(r.get(pid)!, /^250 /);
      }
      await new Promise((res) => setTimeout(res, 500));
      if (!userAt && probes.some((p) => env.mailboxes.count('newbie', p) > 0)) userAt = Date.now();
      return userAt && certAt;
    }, 30_000);
    log(`day 2: VirtualUser Ready after ${(ready / 1000).toFixed(1)} s; its mail in its mailbox after ${((userAt - t0) / 1000).toFixed(1)} s ` +
      `(${probes.length} probes); rotated certificate served after ${((certAt - t1) / 1000).toFixed(1)} s (the operator's pod nudge)`);
    const after = (await env.relayPod())!;
    assert.equal(after.metadata.uid, before.metadata.uid, 'same pod');
    assert.equal(restarts(after), restarts(before), 'no container restart');
    // every probe was delivered: to max (catch-all) before the reload, to newbie after
    await delivered(probes.map((p) => [p, env.mailboxes.count('newbie', p) ? 'newbie' : 'max']));
    // the operator keeps a valid certificate it did not issue (no re-issue over it)
    const s = await env.cluster.get<{ data: Record<string, string> }>(['secret', '-n', Names.mail, 'post-tls']);
    assert.equal(certInfo(Buffer.from(s.data['tls.crt'], 'base64')).fingerprint, rotated);
  });

  it('day 2: a broken object is Ready=False (the MailServer held) while mail keeps flowing', async () => {
    await env.cluster.kubectl(['apply', '-n', Names.mail, '-f', '-'], JSON.stringify({
      apiVersion: 'kubemta.io/v1alpha1', kind: 'Listener', metadata: { name: 'again' },
      spec: { mailServerRef: { name: Names.server }, port: 587, tls: { mode: 'starttls', pkiCertRef: { name: 'mail' } } },
    }));
    const bad = await until('Listener again Ready=False', async () => {
      const o = await env.cluster.find(['listener', '-n', Names.mail, 'again']);
      return condition(o)?.status === 'False' ? condition(o) : undefined;
    }, 30_000);
    assert.equal(bad.reason, 'PortConflict');
    assert.match(bad.message!, /587/);
    const held = await until('MailServer held', async () => {
      const c = condition(await env.cluster.find(['mailserver', '-n', Names.mail, Names.server]));
      return c?.status === 'False' ? c : undefined;
    }, 30_000);
    assert.equal(held.reason, 'HeldByInvalidObjects');
    const mails = [{ id: id('held'), from: 'someone@elsewhere.test', to: 'max@example.com' }];
    assert.match((await sendPlain(ip, INBOUND, mails)).get(mails[0].id)!, /^250 /);
    await delivered([[mails[0].id, 'max']]);
    await env.cluster.kubectl(['delete', '-n', Names.mail, 'listener', 'again']);
    await env.waitAllReady(30_000);
  });

  it('day 2: the relay pod killed mid-burst; every mail answered 250 is delivered by the new pod from the same queue', async () => {
    // The burst goes to partner@example.org, forwarded to the smarthost: a kill -9 inside an mbox append leaves
    // the mbox's dotlock behind, and the relay waits 500 s (staleLockMs) before it breaks it (see e2e/README.md).
    const old = (await env.relayPod())!;
    env.sink!.delayMs = 300; // a slow next hop: mail piles up in the queue
    const mails = Array.from({ length: 200 }, () => ({ id: id('burst'), from: 'someone@elsewhere.test', to: 'partner@example.org' }));
    const replies = new Map<string, string>();
    let killed = false;
    const burst = sendPlain(ip, INBOUND, mails, { concurrency: 8, replies, stop: () => killed });
    await until('20 mails answered 250', async () => [...replies.values()].filter((r) => r.startsWith('250 ')).length >= 20, 60_000);
    // kill -9 from the host (PID 1 in the pod cannot be killed from inside), and delete the pod so that a new one starts
    const containerId = (old.status as { containerStatuses: { containerID: string }[] }).containerStatuses[0].containerID;
    process.kill(await env.cluster.hostPid(containerId), 'SIGKILL');
    killed = true;
    const atSink = (mid: string) => env.sink!.count(mid);
    const queuedAtKill = mails.filter((m) => replies.get(m.id)?.startsWith('250 ') && atSink(m.id) === 0).length;
    await env.cluster.kubectl(['delete', 'pod', '-n', Names.mail, old.metadata.name, '--grace-period=0', '--force', '--wait=false']);
    await burst;
    const acked = mails.filter((m) => replies.get(m.id)?.startsWith('250 '));
    const fresh = await until('a new relay pod Ready', async () => {
      const p = await env.relayPod();
      return p && p.metadata.uid !== old.metadata.uid ? p : undefined;
    }, 180_000);
    ip = env.relayIp(fresh);
    env.sink!.delayMs = 0;
    const missing = () => acked.filter((m) => atSink(m.id) === 0);
    await until('every acknowledged mail at the smarthost', async () => missing().length === 0, 60_000).catch(() => {
      assert.fail(`${missing().length} of ${acked.length} mails answered 250 never arrived: ${missing().map((m) => m.id).join(', ')}`);
    });
    const dups = acked.filter((m) => atSink(m.id) > 1).length;
    log(`kill mid-burst: ${acked.length} answered 250, ${queuedAtKill} of them not yet delivered at the kill; all delivered after the restart ` +
      `(${dups} twice); ${replies.size - acked.length} cut off, ${mails.length - replies.size} not sent`);
    assert.ok(acked.length >= 20);
  });

  it('helm upgrade replaces the operator pod and leaves the relay alone', async () => {
    const relayBefore = (await env.relayPod())!;
    const opBefore = (await env.operatorPod())!;
    await env.helm('upgrade', { logLevel: 'debug' });
    const op = await until('the upgraded operator pod Ready', async () => {
      const p = await env.operatorPod();
      return p && p.metadata.uid !== opBefore.metadata.uid ? p : undefined;
    }, 120_000);
    assert.ok((op.spec as { containers: { args: string[] }[] }).containers[0].args.includes('--log-level=debug'));
    await env.waitAllReady(60_000);
    const relayAfter = (await env.relayPod())!;
    assert.equal(relayAfter.metadata.uid, relayBefore.metadata.uid);
    assert.equal(restarts(relayAfter), restarts(relayBefore));
    const m = { id: id('upgrade'), from: 'someone@elsewhere.test', to: 'max@example.com' };
    assert.match((await sendPlain(ip, INBOUND, [m])).get(m.id)!, /^250 /);
    await delivered([[m.id, 'max']]);
  });

  it('deleting the MailServer removes the relay and keeps the queue and mail claims', async () => {
    await env.cluster.kubectl(['delete', '-n', Names.mail, 'mailserver', Names.server]);
    // the garbage collector removes the owned Deployment (up to ~30 s late for a new CRD's owners here)
    const t0 = Date.now();
    await until('the relay Deployment gone', async () => !(await env.cluster.find(['deployment', '-n', Names.mail, Names.server])), 120_000);
    const gcAt = Date.now();
    // the pod gets SIGTERM: idle sessions are closed, the relay exits (terminationGracePeriodSeconds 60 at most)
    await until('the relay pod gone', async () => (await env.cluster.list(['pods', '-n', Names.mail])).length === 0, 120_000);
    log(`MailServer deleted: Deployment collected after ${((gcAt - t0) / 1000).toFixed(1)} s, relay pod gone ${((Date.now() - gcAt) / 1000).toFixed(1)} s later`);
    const claims = await env.cluster.list(['pvc', '-n', Names.mail]);
    assert.deepEqual(claims.map((c) => `${c.metadata.name}:${(c.status as { phase: string }).phase}`).sort(), ['post-mail:Bound', 'post-queue:Bound']);
    assert.ok(env.mailboxes.text('max').length > 0, 'the mailboxes are still on the volume');
  });

  it('helm uninstall removes the operator and keeps the CRDs, the kubemta objects and the volumes', async () => {
    await env.cluster.helm(['uninstall', Names.release, '-n', Names.system, '--wait', '--timeout', '120s']);
    assert.equal((await env.cluster.list(['deployment', '-n', Names.system])).length, 0);
    for (const kind of ['mailservers', 'listeners', 'pkicerts', 'maildomains', 'virtualusers']) {
      assert.ok(await env.cluster.find(['crd', `${kind}.kubemta.io`]), `CRD ${kind}`);
    }
    assert.ok((await env.cluster.list(['virtualusers', '-n', Names.mail])).length >= 7);
    assert.equal((await env.cluster.list(['pvc', '-n', Names.mail])).length, 2);
    assert.equal((await env.cluster.list(['pv', '-l', Names.pvLabel])).length, 2);
  });
});
