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
});
