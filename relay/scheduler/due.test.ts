import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DueIndex } from './due.ts';

test('hands out woken mails at once and later ones when their time comes, earliest first', () => {
  const d = new DueIndex();
  d.later('c', 300);
  d.later('a', 100);
  d.later('b', 200);
  d.wake('new');
  assert.deepEqual([...d.take(50)], ['new']);
  assert.equal(d.nextAt(), 100);
  assert.deepEqual([...d.take(250)], ['a', 'b']);
  assert.deepEqual([...d.take(250)], []);
  assert.equal(d.nextAt(), 300);
  assert.deepEqual([...d.take(1000)], ['c']);
  assert.equal(d.nextAt(), Infinity);
  assert.equal(d.size, 0);
});

test('an earlier time replaces a later one for the same mail; a later one is ignored; no duplicates', () => {
  const d = new DueIndex();
  d.later('m', 500);
  d.later('m', 200);
  d.later('m', 900);
  assert.equal(d.nextAt(), 200);
  assert.deepEqual([...d.take(600)], ['m']);
  assert.equal(d.nextAt(), Infinity, 'the stale 500 entry is dropped');
});

test('a consumer that stops early leaves the rest for next time', () => {
  const d = new DueIndex();
  for (const id of ['a', 'b', 'c']) d.wake(id);
  for (const id of d.take(0)) if (id === 'a') break;
  assert.deepEqual([...d.take(0)], ['b', 'c']);
});

test('10,000 scheduled mails: taking the due ones does not touch the others', () => {
  const d = new DueIndex();
  for (let i = 0; i < 10_000; i++) d.later(`m${i}`, 1_000 + i);
  assert.deepEqual([...d.take(1_002)], ['m0', 'm1', 'm2']);
  assert.equal(d.size, 9_997);
});
