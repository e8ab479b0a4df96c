// AUTH guessing through parallel connections (Python smtplib, one thread per connection, all AUTH
// commands released at once): the limit counts attempts in flight, per client address and per user name,
// so no more passwords are checked than the limit allows, whatever the parallelism.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { baseConfig, python, startTestRelay, tempDir } from '../../../test/harness.ts';
import { hashPassword } from '../../auth/hash.ts';

// argv: port, user, password, source addresses (comma-separated, one connection each)
const PARALLEL_AUTH = `
import json, smtplib, ssl, sys, threading
port, user, pw, sources = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(',')
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
gate = threading.Barrier(len(sources))
out = [None] * len(sources)
def attempt(i):
    s = None
    try:
        s = smtplib.SMTP_SSL('127.0.0.1', port, context=ctx, source_address=(sources[i], 0), timeout=60)
        s.ehlo('py.test')
    except Exception as e:
        out[i] = 'connect: ' + repr(e)
    gate.wait()
    if s is None:
        return
    s.user, s.password = user, pw
    try:
        code, text = s.auth('PLAIN', s.auth_plain)
        out[i] = '%d %s' % (code, text.decode())
    except smtplib.SMTPResponseException as e:
        out[i] = '%d %s' % (e.smtp_code, e.smtp_error.decode())
    except Exception as e:
        out[i] = 'error: ' + repr(e)
    finally:
        try: s.close()
        except Exception: pass
threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(sources))]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps(out))
`;

describe('AUTH limits under parallel guessing', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let t: Awaited<ReturnType<typeof startTestRelay>>;
  const auth = async (user: string, pw: string, sources: string[]): Promise<string[]> => {
    const r = await python(PARALLEL_AUTH, [String(t.port('smtps')), user, pw, sources.join(',')]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as string[];
  };
  const count = (replies: string[], re: RegExp) => replies.filter((r) => re.test(r)).length;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // bcrypt cost 8: slow enough (tens of ms) that parallel attempts overlap, as they do with cost 10
    const hash = await hashPassword('right-password', 8);
    t = await startTestRelay(
      dir,
      baseConfig({
        tables: { remote: { type: 'credentials', entries: { max: hash, moritz: hash } } },
        listeners: [{ name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', pki: 'mail', auth: 'remote' }],
        limits: { authFailures: 3, authFailuresPerUser: 5, maxConnectionsPerClient: 100 },
      }),
    );
  });
  beforeEach(() => t.relay.relay.authLimiter.clear());
  after(async () => {
    await t.relay.stop();
    await cleanup();
  });

  it('40 parallel wrong passwords from one address: at most 3 are checked, the rest and then the right one get 421 4.7.0', async () => {
    const replies = await auth('max', 'wrong', Array(40).fill('127.0.0.1'));
    assert.ok(count(replies, /^535 5\.7\.8 /) <= 3, `more than 3 passwords checked: ${JSON.stringify(replies)}`);
    assert.equal(count(replies, /^421 4\.7\.0 Too many failed AUTH attempts from your address/), 40 - count(replies, /^535 /), JSON.stringify(replies));
    const right = await auth('max', 'right-password', ['127.0.0.1']);
    assert.match(right[0], /^421 4\.7\.0 /);
    const refused = (await t.relay.relay.metrics.refused.get()).values.find((v) => v.labels.reason === 'auth-rate')?.value ?? 0;
    assert.ok(refused >= 37, `auth-rate refusals counted: ${refused}`);
  });

  it('20 parallel wrong passwords for one user from 20 addresses: at most 5 are checked, then the user is refused from anywhere; other users are not', async () => {
    const sources = Array.from({ length: 20 }, (_, i) => `127.0.0.${10 + i}`);
    const replies = await auth('max', 'wrong', sources);
    assert.ok(count(replies, /^535 5\.7\.8 /) <= 5, `more than 5 passwords checked: ${JSON.stringify(replies)}`);
    assert.equal(count(replies, /^421 4\.7\.0 Too many failed AUTH attempts for this user/), 20 - count(replies, /^535 /), JSON.stringify(replies));
    assert.match((await auth('max', 'right-password', ['127.0.0.50']))[0], /^421 4\.7\.0 /);
    assert.match((await auth('moritz', 'right-password', ['127.0.0.51']))[0], /^235 /);
  });
});
