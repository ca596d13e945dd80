// Lists: lpush, rpush, lpop, rpop, lrange, ltrim, llen and their camelCase aliases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService();

const cliList = async (k) => {
  const out = await ctx.redis.cli('lrange', k, '0', '-1');
  return out === '' ? [] : out.split('\n');
};

test('lpush/rpush return the new length and order as Redis does', async () => {
  const k = uniqueKey('list');
  assert.equal(await ctx.svc.lpush(k, 'b', 'a'), 2); // LPUSH b a -> [a, b]
  assert.equal(await ctx.svc.rpush(k, 'c', 4), 4);
  assert.deepEqual(await cliList(k), ['a', 'b', 'c', '4']);
});

test('lrange reads a list written by redis-cli (incl. negative indexes)', async () => {
  const k = uniqueKey('lrange');
  await ctx.redis.cli('rpush', k, 'x', 'y', 'z');
  assert.deepEqual(await ctx.svc.lrange(k, 0, -1), ['x', 'y', 'z']);
  assert.deepEqual(await ctx.svc.lrange(k, 1, 1), ['y']);
  assert.deepEqual(await ctx.svc.lrange(uniqueKey('lrange-none'), 0, -1), []);
});

test('lpop/rpop remove from the ends; empty -> null', async () => {
  const k = uniqueKey('pop');
  await ctx.redis.cli('rpush', k, '1', '2', '3');
  assert.equal(await ctx.svc.lpop(k), '1');
  assert.equal(await ctx.svc.rpop(k), '3');
  assert.deepEqual(await cliList(k), ['2']);
  assert.equal(await ctx.svc.lpop(k), '2');
  assert.equal(await ctx.svc.lpop(k), null);
  assert.equal(await ctx.svc.rpop(k), null);
});

test('ltrim keeps the range; llen counts', async () => {
  const k = uniqueKey('ltrim');
  await ctx.redis.cli('rpush', k, 'a', 'b', 'c', 'd', 'e');
  assert.equal(await ctx.svc.llen(k), 5);
  assert.equal(await ctx.svc.ltrim(k, 0, 2), 'OK');
  assert.deepEqual(await cliList(k), ['a', 'b', 'c']);
  assert.equal(await ctx.svc.llen(k), 3);
  assert.equal(await ctx.svc.llen(uniqueKey('llen-none')), 0);
});

test('camelCase aliases lPush/rPush/lPop/rPop/lRange/lTrim/lLen (seed 002 message log)', async () => {
  const k = uniqueKey('messages');
  for (let i = 0; i < 5; i++) await ctx.svc.lPush(k, `m${i}`);
  assert.equal(await ctx.svc.rPush(k, 'tail'), 6);
  assert.equal(await ctx.svc.lTrim(k, 0, 3), 'OK');
  assert.deepEqual(await cliList(k), ['m4', 'm3', 'm2', 'm1']);
  assert.deepEqual(await ctx.svc.lRange(k, 0, 1), ['m4', 'm3']);
  assert.equal(await ctx.svc.lLen(k), 4);
  assert.equal(await ctx.svc.lPop(k), 'm4');
  assert.equal(await ctx.svc.rPop(k), 'm1');
  assert.deepEqual(await cliList(k), ['m3', 'm2']);
});
