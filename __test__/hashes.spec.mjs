// Hashes: hset (field/value and record forms), hget, hgetall, hdel and the camelCase aliases,
// each checked against what redis-cli sees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService();

// redis-cli HGETALL (raw) -> object
async function cliHgetall(key) {
  const out = await ctx.redis.cli('hgetall', key);
  const lines = out === '' ? [] : out.split('\n');
  const obj = {};
  for (let i = 0; i < lines.length; i += 2) obj[lines[i]] = lines[i + 1];
  return obj;
}

test('hset(key, field, value) returns new-field count and writes the field', async () => {
  const k = uniqueKey('hset');
  assert.equal(await ctx.svc.hset(k, 'name', 'John Doe'), 1);
  assert.equal(await ctx.svc.hset(k, 'name', 'Jane'), 0, 'overwriting a field adds none');
  assert.equal(await ctx.redis.cli('hget', k, 'name'), 'Jane');
});

test('hset(key, record) writes every field (numbers as text)', async () => {
  const k = uniqueKey('hset-rec');
  assert.equal(await ctx.svc.hset(k, { a: 'one', b: 2, c: 'three' }), 3);
  assert.deepEqual(await cliHgetall(k), { a: 'one', b: '2', c: 'three' });
});

test('hget reads a field written by redis-cli; missing field/key -> null', async () => {
  const k = uniqueKey('hget');
  await ctx.redis.cli('hset', k, 'email', 'john@example.com');
  assert.equal(await ctx.svc.hget(k, 'email'), 'john@example.com');
  assert.equal(await ctx.svc.hget(k, 'nope'), null);
  assert.equal(await ctx.svc.hget(uniqueKey('hget-none'), 'x'), null);
});

test('hgetall returns a plain object; a missing key gives {}', async () => {
  const k = uniqueKey('hgetall');
  await ctx.redis.cli('hset', k, 'x', '1', 'y', 'two words', 'z', '');
  assert.deepEqual(await ctx.svc.hgetall(k), { x: '1', y: 'two words', z: '' });
  assert.deepEqual(await ctx.svc.hgetall(uniqueKey('hgetall-none')), {});
});

test('hdel(key, ...fields) returns the count removed', async () => {
  const k = uniqueKey('hdel');
  await ctx.redis.cli('hset', k, 'a', '1', 'b', '2', 'c', '3');
  assert.equal(await ctx.svc.hdel(k, 'a', 'b', 'zz'), 2);
  assert.deepEqual(await cliHgetall(k), { c: '3' });
  assert.equal(await ctx.svc.hdel(k, 'c'), 1);
  assert.equal(await ctx.redis.cli('exists', k), '0');
});

test('camelCase aliases hSet/hGet/hGetAll/hDel behave like the lowercase ones (seed 002 room pattern)', async () => {
  const k = uniqueKey('room-users');
  const data = JSON.stringify({ connectionId: 'c1', joinedAt: 1 });
  assert.equal(await ctx.svc.hSet(k, 'user123', data), 1);
  assert.equal(await ctx.svc.hSet(k, { user456: 'x', user789: 'y' }), 2);
  assert.equal(await ctx.redis.cli('hget', k, 'user123'), data);
  assert.equal(await ctx.svc.hGet(k, 'user456'), 'x');
  assert.deepEqual(await ctx.svc.hGetAll(k), { user123: data, user456: 'x', user789: 'y' });
  assert.equal(await ctx.svc.hDel(k, 'user456'), 1);
  assert.equal(await ctx.redis.cli('hexists', k, 'user456'), '0');
  assert.equal(await ctx.redis.cli('hlen', k), '2');
});

test('binary field values round trip through hset/hget as Buffers in', async () => {
  const k = uniqueKey('hbin');
  const bytes = Buffer.from([0, 1, 2, 254, 255]);
  await ctx.svc.hset(k, 'f', bytes);
  assert.deepEqual(await ctx.redis.cliBuffer('hget', k, 'f'), bytes);
});
