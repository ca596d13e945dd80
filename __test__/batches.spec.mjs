// pipeline([{command, args}]), multi()...exec() and call(): replies in order, errors in place.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const ctx = useService();

test('pipeline resolves replies in order and the writes are in Redis (seed 003)', async () => {
  const [k1, k2, counter] = [uniqueKey('p1'), uniqueKey('p2'), uniqueKey('pcounter')];
  const replies = await ctx.svc.pipeline([
    { command: 'set', args: [k1, 'value1'] },
    { command: 'set', args: [k2, 'value2'] },
    { command: 'incr', args: [counter] },
    { command: 'get', args: [k1] },
    { command: 'incrby', args: [counter, 9] },
  ]);
  assert.deepEqual(replies, ['OK', 'OK', 1, 'value1', 10]);
  assert.equal(await ctx.redis.cli('get', k1), 'value1');
  assert.equal(await ctx.redis.cli('get', k2), 'value2');
  assert.equal(await ctx.redis.cli('get', counter), '10');
});

test('pipeline: an error reply stands in its place as an Error, the rest still run', async () => {
  const k = uniqueKey('perr');
  const after = uniqueKey('perr-after');
  const replies = await ctx.svc.pipeline([
    { command: 'set', args: [k, 'not-a-number'] },
    { command: 'incr', args: [k] },
    { command: 'set', args: [after, 'ran'] },
  ]);
  assert.equal(replies.length, 3);
  assert.equal(replies[0], 'OK');
  assert.ok(replies[1] instanceof Error, `expected an Error in place 1, got ${JSON.stringify(replies[1])}`);
  assert.match(replies[1].message, /not an integer/);
  assert.equal(replies[1].code, 'ERR_RESILIS_REPLY');
  assert.equal(replies[2], 'OK');
  assert.equal(await ctx.redis.cli('get', after), 'ran');
});

test('pipeline of an empty list resolves []', async () => {
  assert.deepEqual(await ctx.svc.pipeline([]), []);
});

test('multi().set().incr().exec() resolves [[null, result], ...] and commits', async () => {
  const k = uniqueKey('multi');
  const counter = uniqueKey('multi-counter');
  const results = await ctx.svc.multi().set(k, 'v').incr(counter).incr(counter).exec();
  assert.deepEqual(results, [[null, 'OK'], [null, 1], [null, 2]]);
  assert.equal(await ctx.redis.cli('get', k), 'v');
  assert.equal(await ctx.redis.cli('get', counter), '2');
});

test('multi: seed 002 rate limiter reads results[0][1] as the count and the TTL is set', async () => {
  const key = uniqueKey('rate_limit');
  for (let expected = 1; expected <= 3; expected++) {
    const tx = ctx.svc.multi();
    tx.incr(key);
    tx.expire(key, 3600);
    const results = await tx.exec();
    const count = results[0][1];
    assert.equal(count, expected);
    assert.equal(results[1][1], 1);
  }
  assert.equal(await ctx.redis.cli('get', key), '3');
  const ttl = Number(await ctx.redis.cli('ttl', key));
  assert.ok(ttl > 0 && ttl <= 3600, `ttl ${ttl}`);
});

test('multi: a command failing inside EXEC gives [Error, ...] in its slot, others commit', async () => {
  const k = uniqueKey('multi-err');
  const results = await ctx.svc.multi().set(k, 'abc').incr(k).get(k).exec();
  assert.equal(results.length, 3);
  assert.deepEqual(results[0], [null, 'OK']);
  const [err] = results[1];
  assert.ok(err instanceof Error, `slot 1 should hold an Error, got ${JSON.stringify(results[1])}`);
  assert.match(err.message, /not an integer/);
  assert.deepEqual(results[2], [null, 'abc']);
  assert.equal(await ctx.redis.cli('get', k), 'abc');
});

test('multi is atomic: another client never sees half of it', async () => {
  const a = uniqueKey('atomic-a');
  const b = uniqueKey('atomic-b');
  await ctx.svc.multi().set(a, '1').set(b, '1').exec();
  assert.equal(await ctx.redis.cli('mget', a, b), '1\n1');
});

test('call(command, ...args) resolves raw replies of any type', async () => {
  const k = uniqueKey('call');
  assert.equal(await ctx.svc.call('SET', k, 'raw'), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'raw');
  assert.equal(await ctx.svc.call('get', k), 'raw');
  assert.equal(await ctx.svc.call('STRLEN', k), 3);
  assert.equal(await ctx.svc.call('GET', uniqueKey('call-none')), null);
  const l = uniqueKey('call-list');
  assert.equal(await ctx.svc.call('RPUSH', l, 'a', 'b', 3), 3);
  assert.deepEqual(await ctx.svc.call('LRANGE', l, 0, -1), ['a', 'b', '3']);
  assert.equal(await ctx.svc.call('TYPE', l), 'list');
});

test('call with an unknown command rejects with ERR_RESILIS_REPLY', async () => {
  const err = await captureError(() => ctx.svc.call('NOSUCHCOMMAND', 'x'), 'call');
  assertCode(err, 'ERR_RESILIS_REPLY');
  assert.match(err.message, /unknown command/i);
});
