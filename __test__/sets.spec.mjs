// Sets: sadd, srem, smembers, sismember and their camelCase aliases.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey } from './harness/util.mjs';

let redis;
let svc;

before(async () => {
  redis = await startRedis();
  svc = openService(redis);
  await svc.connect();
});

after(async () => {
  await closeServices();
  await redis?.stop();
});

const cliMembers = async (k) => {
  const out = await redis.cli('smembers', k);
  return (out === '' ? [] : out.split('\n')).sort();
};

test('sadd returns the count added and the members are in Redis', async () => {
  const k = uniqueKey('set');
  assert.equal(await svc.sadd(k, 'a', 'b', 'a'), 2);
  assert.equal(await svc.sadd(k, 'b', 'c', 7), 2);
  assert.deepEqual(await cliMembers(k), ['7', 'a', 'b', 'c']);
});

test('srem returns the count removed', async () => {
  const k = uniqueKey('srem');
  await redis.cli('sadd', k, 'x', 'y', 'z');
  assert.equal(await svc.srem(k, 'x', 'nope'), 1);
  assert.deepEqual(await cliMembers(k), ['y', 'z']);
});

test('smembers reads a set written by redis-cli; missing -> []', async () => {
  const k = uniqueKey('smembers');
  await redis.cli('sadd', k, 'user123', 'user456');
  assert.deepEqual((await svc.smembers(k)).sort(), ['user123', 'user456']);
  assert.deepEqual(await svc.smembers(uniqueKey('smembers-none')), []);
});

test('sismember resolves 1 or 0', async () => {
  const k = uniqueKey('sismember');
  await redis.cli('sadd', k, 'm');
  assert.equal(await svc.sismember(k, 'm'), 1);
  assert.equal(await svc.sismember(k, 'other'), 0);
});

test('camelCase aliases sAdd/sRem/sMembers/sIsMember', async () => {
  const k = uniqueKey('active-users');
  assert.equal(await svc.sAdd(k, 'user123', 'user456'), 2);
  assert.deepEqual(await cliMembers(k), ['user123', 'user456']);
  assert.deepEqual((await svc.sMembers(k)).sort(), ['user123', 'user456']);
  assert.ok(await svc.sIsMember(k, 'user123'), 'sIsMember of a member is truthy');
  assert.ok(!(await svc.sIsMember(k, 'ghost')), 'sIsMember of a non-member is falsy');
  assert.equal(await svc.sRem(k, 'user123'), 1);
  assert.deepEqual(await cliMembers(k), ['user456']);
});
