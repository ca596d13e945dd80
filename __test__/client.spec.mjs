// getClient(): the node-redis style object seed 002 uses (camelCase commands, zAdd with
// [{score, value}], set(k, v, {NX, EX}), multi()), with node-redis v5's reply shapes
// (sIsMember -> 0 | 1, multi().exec() -> the replies themselves).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { uniqueKey, captureError, assertCode, eventually } from './harness/util.mjs';

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

test('sAdd / sMembers / sIsMember resolves 1 or 0 (node-redis v5)', async () => {
  const k = uniqueKey('client-set');
  assert.equal(await ctx.client.sAdd(k, 'user123', 'user456'), 2);
  assert.deepEqual(lines(await ctx.redis.cli('smembers', k)).sort(), ['user123', 'user456']);
  assert.deepEqual((await ctx.client.sMembers(k)).sort(), ['user123', 'user456']);
  assert.equal(await ctx.client.sIsMember(k, 'user123'), 1);
  assert.equal(await ctx.client.sIsMember(k, 'nobody'), 0);
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

test('multi(): chained commands, exec() -> the replies in order (node-redis v5)', async () => {
  const key = uniqueKey('client-rate');
  const pipeline = ctx.client.multi();
  pipeline.incr(key);
  pipeline.expire(key, 3600);
  const results = await pipeline.exec();
  assert.deepEqual(results, [1, 1]);
  assert.equal(await ctx.redis.cli('get', key), '1');

  const [a, b] = [uniqueKey('client-m1'), uniqueKey('client-m2')];
  const batch = ctx.client.multi();
  batch.set(a, 'value1');
  batch.set(b, 'value2');
  assert.deepEqual(await batch.exec(), ['OK', 'OK']);
  assert.equal(await ctx.redis.cli('mget', a, b), 'value1\nvalue2');
});

// node-redis v5's surface (issue 17): what connect-redis 9/10, rate-limiter-flexible
// (useRedisPackage) and rate-limit-redis call.

test('set: v5 { expiration: { type, value } } for EX, PX, EXAT, PXAT and KEEPTTL', async () => {
  const k = uniqueKey('v5-exp');
  assert.equal(await ctx.client.set(k, 'a', { expiration: { type: 'EX', value: 100 } }), 'OK');
  const ttl = Number(await ctx.redis.cli('ttl', k));
  assert.ok(ttl > 90 && ttl <= 100, `EX: ttl ${ttl}`);
  await ctx.client.set(k, 'b', { expiration: { type: 'PX', value: 50000 } });
  const pttl = Number(await ctx.redis.cli('pttl', k));
  assert.ok(pttl > 40000 && pttl <= 50000, `PX: pttl ${pttl}`);
  await ctx.client.set(k, 'c', { expiration: { type: 'KEEPTTL' } });
  assert.ok(Number(await ctx.redis.cli('pttl', k)) > 40000, 'KEEPTTL keeps the TTL');
  assert.equal(await ctx.redis.cli('get', k), 'c');
  const at = Math.floor(Date.now() / 1000) + 200;
  await ctx.client.set(k, 'd', { expiration: { type: 'EXAT', value: at } });
  assert.equal(Number(await ctx.redis.cli('expiretime', k)), at);
  await ctx.client.set(k, 'e', { expiration: { type: 'PXAT', value: at * 1000 } });
  assert.equal(Number(await ctx.redis.cli('pexpiretime', k)), at * 1000);
  await assertCode(await captureError(() => ctx.client.set(k, 'f', { expiration: { type: 'EY', value: 1 } })), 'ERR_RESILIS_ARGUMENT');
});

test('set: v5 { condition: NX | XX } and { GET: true }; v4 { NX, XX, PX } still work', async () => {
  const k = uniqueKey('v5-cond');
  assert.equal(await ctx.client.set(k, 'a', { condition: 'XX' }), null);
  assert.equal(await ctx.client.set(k, 'a', { condition: 'NX', expiration: { type: 'EX', value: 30 } }), 'OK');
  assert.equal(await ctx.client.set(k, 'b', { condition: 'NX' }), null);
  assert.equal(await ctx.client.set(k, 'c', { condition: 'XX', GET: true }), 'a');
  assert.equal(await ctx.redis.cli('get', k), 'c');
  assert.equal(await ctx.redis.cli('ttl', k), '-1', 'a SET without expiration drops the TTL, as in Redis');
  const v4 = uniqueKey('v4-set');
  assert.equal(await ctx.client.set(v4, 'x', { PX: 20000, NX: true }), 'OK');
  assert.equal(await ctx.client.set(v4, 'y', { XX: true }), 'OK');
  assert.equal(await ctx.redis.cli('get', v4), 'y');
});

test('mGet, del([...]), expire, pTTL, incrBy, hGetAll, sendCommand', async () => {
  const [a, b, c] = [uniqueKey('v5-a'), uniqueKey('v5-b'), uniqueKey('v5-c')];
  await ctx.redis.cli('mset', a, '1', b, '2');
  assert.deepEqual(await ctx.client.mGet([a, b, c]), ['1', '2', null]);
  assert.equal(await ctx.client.expire(a, 60), 1, 'v5: expire resolves a number');
  const pttl = await ctx.client.pTTL(a);
  assert.ok(pttl > 50000 && pttl <= 60000, `pTTL ${pttl}`);
  assert.equal(await ctx.client.incrBy(b, 5), 7);
  assert.equal(await ctx.client.del([a, b, c]), 2);
  const h = uniqueKey('v5-h');
  await ctx.redis.cli('hset', h, 'f', 'v', 'g', 'w');
  assert.deepEqual(await ctx.client.hGetAll(h), { f: 'v', g: 'w' });
  assert.equal(await ctx.client.sendCommand(['SET', c, 'raw']), 'OK');
  assert.equal(await ctx.client.sendCommand(['GET', c]), 'raw');
  assert.equal(await ctx.client.ping(), 'PONG');
});

test('scan -> { cursor, keys }; scanIterator({ MATCH, COUNT }) yields an array of keys per step', async () => {
  const prefix = uniqueKey('v5-scan');
  for (let i = 0; i < 30; i++) await ctx.redis.cli('set', `${prefix}:${i}`, 'v');
  const first = await ctx.client.scan('0', { MATCH: `${prefix}:*`, COUNT: 5 });
  assert.equal(typeof first.cursor, 'string');
  assert.ok(Array.isArray(first.keys));
  const seen = new Set();
  let steps = 0;
  for await (const keys of ctx.client.scanIterator({ MATCH: `${prefix}:*`, COUNT: 5 })) {
    assert.ok(Array.isArray(keys), 'each step is an array of keys');
    steps++;
    for (const k of keys) seen.add(k);
  }
  assert.equal(seen.size, 30);
  assert.ok(steps > 1, `COUNT 5 over 30 keys takes several steps (took ${steps})`);
  const typed = [];
  for await (const keys of ctx.client.scanIterator({ MATCH: `${prefix}:*`, TYPE: 'hash' })) typed.push(...keys);
  assert.deepEqual(typed, []);
});

test('multi(): camelCase chain (pTTL, incrBy, hGetAll), exec(true) as a pipeline, an error reply rejects with errorIndexes', async () => {
  const [k, h] = [uniqueKey('v5-multi'), uniqueKey('v5-multi-h')];
  const replies = await ctx.client.multi().set(k, '3', { expiration: { type: 'EX', value: 50 } }).incrBy(k, 2).pTTL(k)
    .hSet(h, { a: '1' }).hGetAll(h).exec();
  assert.equal(replies[0], 'OK');
  assert.equal(replies[1], 5);
  assert.ok(replies[2] > 40000 && replies[2] <= 50000, `pTTL ${replies[2]}`);
  assert.deepEqual(replies.slice(3), [1, { a: '1' }]);
  assert.deepEqual(await ctx.client.multi().get(k).pTTL(uniqueKey('none')).exec(true), ['5', -2]);
  assert.deepEqual(await ctx.client.multi().get(k).execAsPipeline(), ['5']);
  const err = await captureError(() => ctx.client.multi().set(k, 'x').incr(k).get(k).exec());
  assert.deepEqual(err.errorIndexes, [1]);
  assert.deepEqual([err.replies[0], err.replies[2]], ['OK', 'x']);
  assert.match(err.message, /not an integer/);
});

test('eval(script, { keys, arguments }) and evalSha', async () => {
  const k = uniqueKey('v5-eval');
  const script = 'return {KEYS[1], ARGV[1], ARGV[2]}';
  assert.deepEqual(await ctx.client.eval(script, { keys: [k], arguments: ['a', 'b'] }), [k, 'a', 'b']);
  const sha = await ctx.redis.cli('script', 'load', script);
  assert.deepEqual(await ctx.client.evalSha(sha, { keys: [k], arguments: ['c', 'd'] }), [k, 'c', 'd']);
});

test('isOpen, isReady, on() returns the client, duplicate() has its own connection, close() and destroy()', async () => {
  assert.equal(ctx.client.isOpen, true);
  assert.equal(ctx.client.isReady, true);
  const onError = () => {};
  assert.equal(ctx.client.on('error', onError), ctx.client);
  ctx.client.off('error', onError);
  const dup = ctx.client.duplicate();
  assert.equal(await dup.connect(), dup, 'connect() resolves the client, as in node-redis');
  assert.equal(dup.isReady, true);
  const name = uniqueKey('dup-conn');
  await dup.sendCommand(['CLIENT', 'SETNAME', name]);
  assert.match(await ctx.redis.cli('client', 'list'), new RegExp(`name=${name}`));
  const k = uniqueKey('dup-key');
  await dup.set(k, 'from-dup');
  assert.equal(await ctx.client.get(k), 'from-dup');
  assert.equal(await dup.close(), undefined);
  assert.equal(dup.isOpen, false);
  assert.equal(ctx.client.isReady, true, 'closing the duplicate leaves the original open');
  const other = ctx.client.duplicate();
  await other.connect();
  assert.equal(other.destroy(), undefined);
  await eventually(() => other.isOpen === false);
});

test('subscribe(channel, listener, bufferMode), pSubscribe, sSubscribe, unsubscribe with the listener', async () => {
  const ch = uniqueKey('v5-ch');
  const got = [];
  const listener = (message, channel) => got.push(['plain', message, channel]);
  const bufListener = (message, channel) => got.push(['buffer', Buffer.isBuffer(message), String(message), String(channel)]);
  const patListener = (message, channel) => got.push(['pattern', message, channel]);
  const shardListener = (message, channel) => got.push(['shard', message, channel]);
  await ctx.client.subscribe(ch, listener);
  await ctx.client.subscribe(ch, bufListener, true);
  await ctx.client.pSubscribe(`${ch}*`, patListener);
  await ctx.client.sSubscribe(`${ch}-s`, shardListener);
  await ctx.redis.cli('publish', ch, 'hello');
  await ctx.redis.cli('spublish', `${ch}-s`, 'sharded');
  await eventually(() => got.length === 4);
  assert.deepEqual(got.sort(), [
    ['buffer', true, 'hello', ch],
    ['pattern', 'hello', ch],
    ['plain', 'hello', ch],
    ['shard', 'sharded', `${ch}-s`],
  ]);
  await ctx.client.unsubscribe(ch, bufListener, true);
  got.length = 0;
  await ctx.redis.cli('publish', ch, 'again');
  await eventually(() => got.length === 2);
  assert.deepEqual(got.map((g) => g[0]).sort(), ['pattern', 'plain']);
  await ctx.client.unsubscribe();
  await ctx.client.pUnsubscribe();
  await ctx.client.sUnsubscribe();
});

test('a node-redis command getClient() does not offer rejects with ERR_RESILIS_UNSUPPORTED naming it; feature checks stay undefined', async () => {
  const err = await captureError(() => ctx.client.xAutoClaim('stream', 'group', 'consumer', 0, '0-0'));
  assertCode(err, 'ERR_RESILIS_UNSUPPORTED');
  assert.match(err.message, /xAutoClaim/);
  assert.match(err.message, /sendCommand/);
  assert.equal(err.sent, 'no');
  for (const prop of ['then', 'masters', 'nodeClient', '_slots', 'commandOptions']) assert.equal(ctx.client[prop], undefined, prop);
  assert.equal('masters' in ctx.client, false, 'connect-redis takes a client with `masters` for a node-redis cluster');
});
