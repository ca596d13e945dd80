// Sets: sadd, srem, smembers, sismember and their camelCase aliases.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService();

const cliMembers = async (k) => {
  const out = await ctx.redis.cli('smembers', k);
  return (out === '' ? [] : out.split('\n')).sort();
};

test('sadd returns the count added and the members are in Redis', async () => {
  const k = uniqueKey('set');
  assert.equal(await ctx.svc.sadd(k, 'a', 'b', 'a'), 2);
  assert.equal(await ctx.svc.sadd(k, 'b', 'c', 7), 2);
  assert.deepEqual(await cliMembers(k), ['7', 'a', 'b', 'c']);
});

test('srem returns the count removed', async () => {
  const k = uniqueKey('srem');
  await ctx.redis.cli('sadd', k, 'x', 'y', 'z');
  assert.equal(await ctx.svc.srem(k, 'x', 'nope'), 1);
  assert.deepEqual(await cliMembers(k), ['y', 'z']);
});

test('smembers reads a set written by redis-cli; missing -> []', async () => {
  const k = uniqueKey('smembers');
  await ctx.redis.cli('sadd', k, 'user123', 'user456');
  assert.deepEqual((await ctx.svc.smembers(k)).sort(), ['user123', 'user456']);
  assert.deepEqual(await ctx.svc.smembers(uniqueKey('smembers-none')), []);
});

test('sismember resolves 1 or 0', async () => {
  const k = uniqueKey('sismember');
  await ctx.redis.cli('sadd', k, 'm');
  assert.equal(await ctx.svc.sismember(k, 'm'), 1);
  assert.equal(await ctx.svc.sismember(k, 'other'), 0);
});

test('camelCase aliases sAdd/sRem/sMembers/sIsMember', async () => {
  const k = uniqueKey('active-users');
  assert.equal(await ctx.svc.sAdd(k, 'user123', 'user456'), 2);
  assert.deepEqual(await cliMembers(k), ['user123', 'user456']);
  assert.deepEqual((await ctx.svc.sMembers(k)).sort(), ['user123', 'user456']);
  assert.ok(await ctx.svc.sIsMember(k, 'user123'), 'sIsMember of a member is truthy');
  assert.ok(!(await ctx.svc.sIsMember(k, 'ghost')), 'sIsMember of a non-member is falsy');
  assert.equal(await ctx.svc.sRem(k, 'user123'), 1);
  assert.deepEqual(await cliMembers(k), ['user456']);
});
