import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionPool, type Pooled } from './pool.ts';
import { until } from '../../../test/until.ts';

class Fake implements Pooled {
  alive = true;
  closed = false;
  close(): void {
    this.alive = false;
    this.closed = true;
  }
}

const tick = () => new Promise((r) => setImmediate(r));

describe('relay/deliver/smtp/pool', () => {
  it('reuses an idle connection to the same destination instead of opening another', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 10, perDestination: 5, idleMs: 1000 }));
    let created = 0;
    const create = async () => (created++, new Fake());
    const a = await pool.acquire('d', create);
    pool.release('d', a, true);
    const b = await pool.acquire('d', create);
    assert.equal(b, a);
    assert.equal(created, 1);
    pool.close();
  });

  it('never opens more than perDestination to one destination; a waiter gets the released connection', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 10, perDestination: 2, idleMs: 1000 }));
    const create = async () => new Fake();
    const [a] = await Promise.all([pool.acquire('d', create), pool.acquire('d', create)]);
    let third: Fake | undefined;
    void pool.acquire('d', create).then((c) => (third = c));
    await tick();
    assert.equal(third, undefined, 'waits while two are open');
    assert.equal(pool.open, 2);
    pool.release('d', a, true);
    await tick();
    assert.equal(third, a);
    pool.close();
  });

  it('closes an idle connection of another destination when the total limit is reached', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 1, perDestination: 1, idleMs: 1000 }));
    const x = await pool.acquire('x', async () => new Fake());
    pool.release('x', x, true);
    const y = await pool.acquire('y', async () => new Fake());
    assert.equal(x.closed, true);
    assert.notEqual(y, x);
    assert.equal(pool.open, 1);
    pool.close();
  });

  it('gives the slot back when opening fails, and drops dead or unreusable connections', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 1, perDestination: 1, idleMs: 1000 }));
    await assert.rejects(pool.acquire('d', async () => Promise.reject(new Error('refused'))), /refused/);
    assert.equal(pool.open, 0);
    const a = await pool.acquire('d', async () => new Fake());
    pool.release('d', a, false);
    assert.equal(a.closed, true);
    const b = await pool.acquire('d', async () => new Fake());
    pool.release('d', b, true);
    b.alive = false; // the server closed it while idle
    const c = await pool.acquire('d', async () => new Fake());
    assert.notEqual(c, b);
    pool.close();
  });

  it('closes idle connections after idleMs', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 5, perDestination: 5, idleMs: 20 }));
    const a = await pool.acquire('d', async () => new Fake());
    pool.release('d', a, true);
    await until('the idle connection closed', () => a.closed, 2000).catch(() => undefined);
    assert.equal(a.closed, true);
    assert.equal(pool.open, 0);
  });

  it('counts every kind of connection to a destination against its limit, but reuses only the same kind', async () => {
    const pool = new ConnectionPool<Fake>(() => ({ total: 10, perDestination: 1, idleMs: 1000 }));
    const plain = await pool.acquire('d', async () => new Fake(), 'tls=none');
    pool.release('d', plain, true, 'tls=none');
    const secure = await pool.acquire('d', async () => new Fake(), 'tls=verify');
    assert.notEqual(secure, plain, 'a plaintext connection never serves a verify mail');
    assert.equal(plain.closed, true, 'the idle one of the other kind made room');
    assert.equal(pool.openTo('d'), 1);
    pool.release('d', secure, true, 'tls=verify');
    assert.equal(await pool.acquire('d', async () => new Fake(), 'tls=verify'), secure);
    pool.close();
  });

  it('follows a destination\'s window: a waiter opens a connection once the window grows and it is woken', async () => {
    let window = 1;
    const pool = new ConnectionPool<Fake>(() => ({ total: 10, perDestination: window, idleMs: 1000 }));
    const a = await pool.acquire('d', async () => new Fake());
    let b: Fake | undefined;
    void pool.acquire('d', async () => new Fake()).then((c) => (b = c));
    await tick();
    assert.equal(b, undefined);
    window = 2;
    pool.wake('d');
    await until('the waiter got a second connection', () => b);
    assert.notEqual(b, a);
    assert.equal(pool.openTo('d'), 2);
    window = 1;
    pool.release('d', b!, true);
    assert.equal(b!.closed, true, 'over the shrunk window: closed instead of kept idle');
    assert.equal(pool.openTo('d'), 1);
    pool.close();
  });

  it('refuses a paused destination at once, waiters included, closes its idle connections, and leaves others alone', async () => {
    const paused = new Set<string>();
    const pool = new ConnectionPool<Fake>(() => ({ total: 10, perDestination: 2, idleMs: 1000 }), (d) => (paused.has(d) ? new Error(`${d} paused until later`) : undefined));
    const [a, b] = await Promise.all([pool.acquire('d', async () => new Fake()), pool.acquire('d', async () => new Fake())]);
    const waiter = pool.acquire('d', async () => new Fake());
    const idle = await pool.acquire('f', async () => new Fake());
    pool.release('f', idle, true);
    const other = await pool.acquire('e', async () => new Fake());
    pool.release('e', other, true);
    await tick();
    paused.add('d').add('f');
    pool.wake('d');
    pool.wake('f');
    await assert.rejects(waiter, /d paused until later/);
    await assert.rejects(pool.acquire('d', async () => new Fake()), /d paused until later/);
    assert.equal(idle.closed, true, 'the idle connection of a paused destination is closed');
    pool.release('d', a, true);
    assert.equal(a.closed, true, 'a connection given back while paused is closed');
    assert.equal(pool.openTo('d'), 1);
    assert.equal(await pool.acquire('e', async () => new Fake()), other, 'the other destination keeps its connection');
    paused.clear();
    assert.equal(await pool.acquire('d', async () => new Fake()) === b, false, 'after the pause: connections again');
    pool.close();
  });
});
