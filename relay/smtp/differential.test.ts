// Differential conformance: every scenario of test/fixtures/smtp-scenarios.yaml replayed against a real Postfix smtpd (a
// private instance, test/postfix.ts) and against kubemta, step by step. A step fails where the two reply
// classes disagree and test/fixtures/smtp-scenarios.yaml does not say why; a `differs` note that no longer differs fails
// too, so the list of differences stays true. Every kubemta reply also has to carry an enhanced status
// code (RFC 2034), except the greeting and the answer to HELO/EHLO.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startTestRelay, tempDir } from '../../test/harness.ts';
import { differentialConfig, LIMITS } from '../../test/conformance-config.ts';
import { postfixMissing, startPostfix } from '../../test/postfix.ts';
import { loadScenarios, replay, replyClass, type Scenario } from '../../test/smtp-replay.ts';

const FILE = join(import.meta.dirname, '../../test/fixtures/smtp-scenarios.yaml');
const scenarios = await loadScenarios(FILE);
const missing = postfixMissing();

const NO_ENHANCED = /^(EHLO|HELO)\b/i;

describe('differential conformance: kubemta against Postfix smtpd (test/fixtures/smtp-scenarios.yaml)', { skip: missing }, () => {
  let pf: Awaited<ReturnType<typeof startPostfix>> | undefined;
  let relay: Awaited<ReturnType<typeof startTestRelay>> | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  before(async () => {
    const p = await tempDir('kubemta-postfix-');
    cleanups.push(p.cleanup);
    pf = await startPostfix(p.dir, LIMITS);
    cleanups.push(pf.stop);
    const r = await tempDir();
    cleanups.push(r.cleanup);
    relay = await startTestRelay(r.dir, differentialConfig());
    cleanups.push(() => relay!.relay.stop());
  });
  after(async () => {
    // last started, first stopped; every step runs even if one fails
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  const run = async (sc: Scenario) => {
    const [theirs, ours] = await Promise.all([replay(pf!.port, sc), replay(relay!.port('plain'), sc)]);
    const problems: string[] = [];
    for (let i = 0; i < ours.length; i++) {
      const step = i === 0 ? undefined : sc.steps[i - 1];
      const a = theirs[i].replies.map(replyClass).join(',');
      const b = ours[i].replies.map(replyClass).join(',');
      const where = `step ${i} ${ours[i].label}: postfix ${JSON.stringify(theirs[i].replies)} kubemta ${JSON.stringify(ours[i].replies)}`;
      if (a !== b && !step?.differs) problems.push(`differs without a reason: ${where}`);
      if (a === b && step?.differs) problems.push(`listed as a difference but both answer ${a}: ${where}`);
      if (i > 0) {
        for (const r of ours[i].replies) {
          // RFC 2034 3: all but the greeting and the answer to HELO/EHLO (its refusals included here)
          if (r.startsWith('250') && NO_ENHANCED.test(ours[i].label.slice(1))) continue;
          if (/^[245]\d\d/.test(r) && !/^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3}[ \r\n]/.test(r)) problems.push(`no enhanced status code: ${where}`);
        }
      }
    }
    return problems;
  };

  for (const sc of scenarios) {
    it(`${sc.group}: ${sc.name}`, async () => {
      const problems = await run(sc);
      assert.deepEqual(problems, []);
    });
  }
});
