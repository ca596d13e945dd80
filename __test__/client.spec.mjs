// getClient(): the node-redis style object seed 002 uses (camelCase commands, zAdd with
// [{score, value}], sIsMember -> boolean, set(k, v, {NX, EX}), multi()).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService({ setup: (c) => { c.client = c.svc.getClient(); } });

const lines = (s) => (s === '' ? [] : s.split('\n'));

test('getClient() returns an object with the node-redis camelCase methods', () => {
  assert.ok(ctx.client && typeof ctx.client === 'object', 'getClient() should return an object');
  for (const m of ['lPush', 'lRange', 'lTrim', 'sAdd', 'sMembers', 'sIsMember', 'zAdd', 'zRevRange', 'publish',
    'hDel', 'hSet', 'hGet', 'hGetAll', 'ttl', 'expire', 'set', 'get', 'del', 'incr', 'eval', 'multi']) {
    assert.equal(typeof ctx.client[m], 'function', `client.${m} should be a function`);
  }
});

test('lPush / lTrim / expire / lRange (seed 002 storeMessage)', async () => {
  const k = uniqueKey('room-messages');
  for (let i = 0; i < 5; i++) await ctx.client.lPush(k, JSON.stringify({ i }));
  await ctx.client.lTrim(k, 0, 2);
  const expired = await ctx.client.expire(k, 86400);
  assert.ok(expired === 1 || expired === true, `expire should resolve 1 or true (node-redis 4), got ${expired}`);
  assert.deepEqual(lines(await ctx.redis.cli('lrange', k, '0', '-1')), ['{"i":4}', '{"i":3}', '{"i":2}']);
  const ttl = Number(await ctx.redis.cli('ttl', k));
  assert.ok(ttl > 0 && ttl <= 86400);
  assert.deepEqual((await ctx.client.lRange(k, 0, 1)).map((m) => JSON.parse(m).i), [4, 3]);
});

test('sAdd / sMembers / sIsMember resolves booleans', async () => {
  const k = uniqueKey('client-set');
  assert.equal(await ctx.client.sAdd(k, 'user123', 'user456'), 2);
  assert.deepEqual(lines(await ctx.redis.cli('smembers', k)).sort(), ['user123', 'user456']);
  assert.deepEqual((await ctx.client.sMembers(k)).sort(), ['user123', 'user456']);
  assert.equal(await ctx.client.sIsMember(k, 'user123'), true);
  assert.equal(await ctx.client.sIsMember(k, 'nobody'), false);
});

test('zAdd(key, [{score, value}]) and zRevRange (seed 002 leaderboard)', async () => {
  const k = uniqueKey('client-leaderboard');
  assert.equal(await ctx.client.zAdd(k, [{ score: 100, value: 'player1' }, { score: 85, value: 'player2' }]), 2);
  assert.deepEqual(lines(await ctx.redis.cli('zrange', k, '0', '-1', 'WITHSCORES')), ['player2', '85', 'player1', '100']);
  assert.deepEqual(await ctx.client.zRevRange(k, 0, 4), ['player1', 'player2']);
});

test('zAdd with a single {score, value} object', async () => {
  const k = uniqueKey('client-z1');
  assert.equal(await ctx.client.zAdd(k, { score: 5, value: 'solo' }), 1);
  assert.equal(await ctx.redis.cli('zscore', k, 'solo'), '5');
});

test('hSet / hGet / hGetAll / hDel', async () => {
  const k = uniqueKey('client-hash');
  await ctx.client.hSet(k, 'name', 'John');
  await ctx.client.hSet(k, { email: 'j@example.com' });
  assert.equal(await ctx.redis.cli('hget', k, 'email'), 'j@example.com');
  assert.equal(await ctx.client.hGet(k, 'name'), 'John');
  assert.deepEqual(await ctx.client.hGetAll(k), { name: 'John', email: 'j@example.com' });
  assert.equal(await ctx.client.hDel(k, 'name'), 1);
  assert.equal(await ctx.redis.cli('hexists', k, 'name'), '0');
});

test('set(k, v, {NX, EX}) acquires a lock once; get/del/ttl/incr work', async () => {
  const k = uniqueKey('client-lock');
  assert.equal(await ctx.client.set(k, 'tok-a', { NX: true, EX: 30 }), 'OK');
  assert.equal(await ctx.client.set(k, 'tok-b', { NX: true, EX: 30 }), null);
  assert.equal(await ctx.redis.cli('get', k), 'tok-a');
  const ttl = await ctx.client.ttl(k);
  assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl}`);
  assert.equal(await ctx.client.get(k), 'tok-a');
  assert.equal(await ctx.client.del(k), 1);
  assert.equal(await ctx.redis.cli('exists', k), '0');
  const c = uniqueKey('client-incr');
  assert.equal(await ctx.client.incr(c), 1);
  assert.equal(await ctx.redis.cli('get', c), '1');
});

test('eval(script, numKeys, ...args): seed 002 releaseLock compares result === 1', async () => {
  const k = uniqueKey('client-eval-lock');
  await ctx.redis.cli('set', k, 'tok');
  const script = `
    if redis.call("GET", KEYS[1]) == ARGV[1] then
      return redis.call("DEL", KEYS[1])
    else
      return 0
    end`;
  assert.equal(await ctx.client.eval(script, 1, k, 'other'), 0);
  assert.equal(await ctx.client.eval(script, 1, k, 'tok'), 1);
  assert.equal(await ctx.redis.cli('exists', k), '0');
});

test('publish resolves the receiver count', async () => {
  assert.equal(await ctx.client.publish(uniqueKey('client-chan'), 'hi'), 0);
});

test('multi(): chained commands, exec() -> [[err, result], ...], results[0][1] is the count', async () => {
  const key = uniqueKey('client-rate');
  const pipeline = ctx.client.multi();
  pipeline.incr(key);
  pipeline.expire(key, 3600);
  const results = await pipeline.exec();
  assert.deepEqual(results, [[null, 1], [null, 1]]);
  assert.equal(results[0][1], 1);
  assert.equal(await ctx.redis.cli('get', key), '1');

  const [a, b] = [uniqueKey('client-m1'), uniqueKey('client-m2')];
  const batch = ctx.client.multi();
  batch.set(a, 'value1');
  batch.set(b, 'value2');
  assert.deepEqual(await batch.exec(), [[null, 'OK'], [null, 'OK']]);
  assert.equal(await ctx.redis.cli('mget', a, b), 'value1\nvalue2');
});
