// Sorted sets: zadd, zrange, zrevrange (WITHSCORES), zscore, zrem and camelCase aliases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService();

const cliZ = async (k) => {
  const out = await ctx.redis.cli('zrange', k, '0', '-1', 'WITHSCORES');
  return out === '' ? [] : out.split('\n');
};

test('zadd(key, score, member, ...) adds members with their scores', async () => {
  const k = uniqueKey('zadd');
  assert.equal(await ctx.svc.zadd(k, 100, 'player1', 85, 'player2'), 2);
  assert.equal(await ctx.svc.zadd(k, 90, 'player1'), 0, 'updating a score adds none');
  assert.deepEqual(await cliZ(k), ['player2', '85', 'player1', '90']);
});

test('zadd accepts fractional and negative scores', async () => {
  const k = uniqueKey('zadd-frac');
  await ctx.svc.zadd(k, 1.5, 'a', -2, 'b');
  assert.deepEqual(await cliZ(k), ['b', '-2', 'a', '1.5']);
});

test('zrange / zrevrange, with and without WITHSCORES', async () => {
  const k = uniqueKey('zrange');
  await ctx.redis.cli('zadd', k, '1', 'a', '2', 'b', '3', 'c');
  assert.deepEqual(await ctx.svc.zrange(k, 0, -1), ['a', 'b', 'c']);
  assert.deepEqual(await ctx.svc.zrange(k, 0, 1, 'WITHSCORES'), ['a', '1', 'b', '2']);
  assert.deepEqual(await ctx.svc.zrevrange(k, 0, -1), ['c', 'b', 'a']);
  assert.deepEqual(await ctx.svc.zrevrange(k, 0, 0, 'WITHSCORES'), ['c', '3']);
  assert.deepEqual(await ctx.svc.zrange(uniqueKey('zrange-none'), 0, -1), []);
});

test('zscore resolves the score as a string, or null', async () => {
  const k = uniqueKey('zscore');
  await ctx.redis.cli('zadd', k, '42', 'm', '2.5', 'n');
  assert.equal(await ctx.svc.zscore(k, 'm'), '42');
  assert.equal(await ctx.svc.zscore(k, 'n'), '2.5');
  assert.equal(await ctx.svc.zscore(k, 'nobody'), null);
});

test('zrem returns the count removed', async () => {
  const k = uniqueKey('zrem');
  await ctx.redis.cli('zadd', k, '1', 'a', '2', 'b', '3', 'c');
  assert.equal(await ctx.svc.zrem(k, 'a', 'c', 'zz'), 2);
  assert.deepEqual(await cliZ(k), ['b', '2']);
});

test('camelCase aliases zAdd/zRange/zRevRange/zScore/zRem', async () => {
  const k = uniqueKey('leaderboard');
  assert.equal(await ctx.svc.zAdd(k, 10, 'x', 20, 'y'), 2);
  assert.deepEqual(await cliZ(k), ['x', '10', 'y', '20']);
  assert.deepEqual(await ctx.svc.zRange(k, 0, -1), ['x', 'y']);
  assert.deepEqual(await ctx.svc.zRevRange(k, 0, -1), ['y', 'x']);
  assert.equal(await ctx.svc.zScore(k, 'y'), '20');
  assert.equal(await ctx.svc.zRem(k, 'x'), 1);
  assert.deepEqual(await cliZ(k), ['y', '20']);
});
