// The in-memory store (issue 4): with no Redis at all it serves the SURFACE command set (what
// memory-mode.spec.mjs does not cover already), its byte bound holds under a 300 MB write storm,
// and TTLs expire there, also for writes taken by the fallback while Redis is down.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadResilis } from './harness/package.mjs';
import { startRedis } from './harness/redis.mjs';
import { openService, remember, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually, settleWithin } from './harness/util.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { writeScript } from './harness/node-script.mjs';

const { createRedisService } = loadResilis();
const servers = [];
after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
});

const memory = (options) => remember(createRedisService({ enabled: false, ...options }));

test('memory mode: strings and keys (Buffers, set options, mset with TTL, expire, decr, scan)', async () => {
  const s = memory();
  const bytes = Buffer.from([0, 255, 1, 10, 13]);
  assert.equal(await s.set('f:bin', bytes), 'OK');
  assert.deepEqual(await s.getBuffer('f:bin'), bytes);
  assert.equal(await s.getBuffer('f:none'), null);
  assert.equal(await s.set('f:n', 'v', 100), 'OK');
  assert.equal(await s.ttl('f:n'), 100);
  assert.equal(await s.set('f:px', 'v', { px: 5000 }), 'OK');
  assert.ok((await s.ttl('f:px')) <= 5);
  assert.equal(await s.set('f:xx', 'v', { XX: true }), null);
  assert.equal(await s.set('f:n', 'w', { XX: true, KEEPTTL: true }), 'OK');
  assert.equal(await s.ttl('f:n'), 100, 'KEEPTTL kept the TTL');
  assert.equal(await s.set('f:n', 'x', { GET: true }), 'w');
  assert.equal(await s.ttl('f:n'), -1, 'a plain SET drops the TTL');
  assert.equal(await s.mset({ 'f:a': '1', 'f:b': 2 }, 60), 'OK');
  assert.deepEqual(await s.mget(['f:a', 'f:b']), ['1', '2']);
  assert.equal(await s.ttl('f:b'), 60);
  assert.equal(await s.expire('f:a', 10), 1);
  assert.equal(await s.expire('f:none', 10), 0);
  assert.equal(await s.ttl('f:a'), 10);
  assert.equal(await s.ttl('f:none'), -2);
  assert.equal(await s.decr('f:d'), -1);
  assert.equal(await s.incrBy('f:d', 10), 9);
  const [cursor, keys] = await s.scan(0, { match: 'f:[ab]', count: 100 });
  assert.equal(cursor, '0');
  assert.deepEqual(keys.sort(), ['f:a', 'f:b']);
});

test('memory mode: hashes, lists, sets and sorted sets, with the camelCase aliases', async () => {
  const s = memory();
  assert.equal(await s.hSet('f:h', 'f', 'v'), 1);
  assert.equal(await s.hGet('f:h', 'f'), 'v');
  assert.equal(await s.hget('f:h', 'nope'), null);
  assert.deepEqual(await s.hGetAll('f:h'), { f: 'v' });
  assert.equal(await s.hDel('f:h', 'f'), 1);
  assert.equal(await s.hdel('f:h', 'f'), 0);
  assert.deepEqual(await s.hgetall('f:h'), {});
  assert.equal(await s.rpush('f:l', 'a', 'b', 'c'), 3);
  assert.equal(await s.lPush('f:l', 'z'), 4);
  assert.equal(await s.lpop('f:l'), 'z');
  assert.equal(await s.rpop('f:l'), 'c');
  assert.equal(await s.llen('f:l'), 2);
  assert.equal(await s.lTrim('f:l', 0, 0), 'OK');
  assert.deepEqual(await s.lRange('f:l', 0, -1), ['a']);
  assert.equal(await s.sAdd('f:s', 'a', 'b', 'a'), 2);
  assert.equal(await s.srem('f:s', 'a'), 1);
  assert.deepEqual(await s.sMembers('f:s'), ['b']);
  assert.equal(await s.sIsMember('f:s', 'a'), 0);
  assert.equal(await s.zAdd('f:z', [{ score: 20, value: 'bob' }, { score: 10, value: 'al' }]), 2);
  assert.deepEqual(await s.zrevrange('f:z', 0, 9, 'WITHSCORES'), ['bob', '20', 'al', '10']);
  assert.deepEqual(await s.zRevRange('f:z', 0, 0), ['bob']);
  assert.equal(await s.zscore('f:z', 'bob'), '20');
  assert.equal(await s.zrem('f:z', 'al'), 1);
  assert.deepEqual(await s.zRange('f:z', 0, -1), ['bob']);
});

test('memory mode: multi, the node-redis view (seed 002), call and publish', async () => {
  const s = memory();
  assert.deepEqual(await s.multi().set('f:m', 1).incr('f:m').exec(), [[null, 'OK'], [null, 2]]);
  const c = s.getClient();
  assert.equal(await c.lPush('f:cl', 'a'), 1);
  assert.deepEqual(await c.lRange('f:cl', 0, -1), ['a']);
  assert.equal(await c.sAdd('f:cs', 'a'), 1);
  assert.equal(await c.sIsMember('f:cs', 'a'), 1);
  assert.equal(await c.zAdd('f:cz', [{ score: 1, value: 'a' }]), 1);
  assert.deepEqual(await c.zRevRange('f:cz', 0, -1), ['a']);
  assert.equal(await c.set('f:ck', 'v', { NX: true, EX: 10 }), 'OK');
  assert.equal(await c.set('f:ck', 'v', { NX: true, EX: 10 }), null);
  assert.equal(await c.ttl('f:ck'), 10);
  assert.equal(await c.expire('f:ck', 20), 1);
  // node-redis v5: exec() resolves the replies themselves (issue 17)
  const results = await c.multi().incr('f:rl').expire('f:rl', 60).exec();
  assert.deepEqual(results, [1, 1]);
  assert.equal(await c.sendCommand(['GET', 'f:m']), '2');
  assert.equal(await s.call('GET', 'f:m'), '2');
  assert.equal(await s.publish('f:channel', 'hello'), 0);
});

test('memory mode: getFallbackCacheStats() has the lru-cache shape', async () => {
  const s = memory({ fallback: { maxSize: 1024 * 1024 } });
  await s.set('f:stats', 'x'.repeat(1000));
  await s.get('f:stats');
  await s.get('f:missing');
  const st = s.getFallbackCacheStats();
  for (const f of ['size', 'calculatedSize', 'itemCount', 'maxSize', 'hits', 'misses', 'evictions']) {
    assert.equal(typeof st[f], 'number', `${f} in ${JSON.stringify(st)}`);
  }
  assert.equal(st.maxSize, 1024 * 1024);
  assert.ok(st.itemCount >= 1 && st.calculatedSize >= 1000, JSON.stringify(st));
  assert.ok(st.hits >= 1 && st.misses >= 1, JSON.stringify(st));
});

test('TTLs in seconds expire: set EX 1 and set(k, v, 1) are gone after 1.2 s', async () => {
  const s = memory();
  assert.equal(await s.set('f:ex1', 'v', { EX: 1 }), 'OK');
  assert.equal(await s.set('f:num1', 'v', 1), 'OK');
  assert.equal(await s.get('f:ex1'), 'v');
  await sleep(1200);
  assert.equal(await s.get('f:ex1'), null);
  assert.equal(await s.get('f:num1'), null);
  assert.equal(await s.exists('f:ex1', 'f:num1'), 0);
  assert.equal(await s.ttl('f:ex1'), -2);
});

test('while Redis is down, a fallback write with EX 1 expires there and is not replayed after it expired', { timeout: 30000 }, async () => {
  const server = await startRedis();
  servers.push(server);
  const s = openService(server, { commandTimeout: 1000, circuitBreaker: { resetTimeout: 1000 } });
  s.on('error', () => {});
  const key = uniqueKey('fallback-ex');
  await s.ping();
  await server.kill('SIGKILL');
  assert.equal(await settleWithin(s.set(key, 'v', { EX: 1 }), 2500, 'set during the outage'), 'OK');
  assert.equal(await settleWithin(s.get(key), 2500, 'get during the outage'), 'v');
  await sleep(1200);
  assert.equal(await settleWithin(s.get(key), 2500, 'get after expiry'), null);
  await server.restart();
  assert.ok(await eventually(async () => {
    await s.get(uniqueKey('poke')).catch(() => {});
    return s.isConnected;
  }, 8000, 100), 'no recovery after restart');
  await sleep(1000);
  assert.equal(await server.cli('exists', key), '0', 'an expired outage write was replayed');
});

test('values set and read just before Redis dies are served by the fallback (the mirror settles on the switch)', { timeout: 30000 }, async () => {
  const server = await startRedis();
  servers.push(server);
  const s = openService(server, { commandTimeout: 1000, circuitBreaker: { resetTimeout: 1000 } });
  s.on('error', () => {});
  const keys = Array.from({ length: 50 }, (_, i) => uniqueKey(`fallback-last-${i}`));
  await s.ping();
  await server.cli('set', keys[0], 'read-before');
  assert.equal(await s.get(keys[0]), 'read-before');
  await Promise.all(keys.slice(1).map((k, i) => s.set(k, `written-${i}`)));
  // No pause: the mirror thread's next pass is up to 100 ms away.
  await server.kill('SIGKILL');
  assert.equal(await settleWithin(s.get(keys[0]), 2500, 'get during the outage'), 'read-before');
  const got = await Promise.all(keys.slice(1).map((k) => settleWithin(s.get(k), 2500, 'get during the outage')));
  assert.deepEqual(got, keys.slice(1).map((_, i) => `written-${i}`));
});

// 300 MB of 64 KiB values into a 32 MiB store, in a child so its RSS is its own.
const STORM = `
const maxSize = 32 * 1024 * 1024;
const s = resilis.createRedisService({ enabled: false, fallback: { maxSize } });
const value = Buffer.alloc(64 * 1024, 120);
const total = 300 * 1024 * 1024 / value.length;
let maxRss = 0;
for (let i = 0; i < total; i += 64) {
  await Promise.all(Array.from({ length: 64 }, (_, j) => s.set('storm:' + (i + j), value)));
  maxRss = Math.max(maxRss, process.memoryUsage().rss);
}
let recent = 0;
let oldest = 0;
for (let i = 0; i < 100; i++) {
  recent += await s.exists('storm:' + (total - 100 + i));
  oldest += await s.exists('storm:' + i);
}
let stats = null;
try { stats = s.getFallbackCacheStats(); } catch (e) { stats = { error: String(e.message) }; }
console.log(JSON.stringify({ total, maxRss, recent, oldest, stats }));
await s.disconnect();
`;

let stormRun;
async function storm() {
  stormRun ??= (async () => {
    const res = await runNode([await writeScript('storm', STORM)], { timeout: 60000 });
    assert.equal(res.code, 0, `storm child failed (${res.code}): ${res.stderr}`);
    return lastJson(res.stdout);
  })();
  return stormRun;
}

test('a 300 MB write storm into a 32 MiB store: RSS stays bounded, the oldest values go and recent ones stay (LRU)', { timeout: 70000 }, async (t) => {
  const out = await storm();
  t.diagnostic(`wrote ${out.total} x 64 KiB; max RSS ${(out.maxRss / 1048576).toFixed(1)} MB; ${out.recent} of the last 100 keys present, ${out.oldest} of the first 100`);
  assert.ok(out.maxRss < 250 * 1024 * 1024, `RSS reached ${(out.maxRss / 1048576).toFixed(1)} MB`);
  assert.ok(out.recent > 0, 'none of the last 100 values written is readable');
  assert.equal(out.oldest, 0, 'values written 300 MB ago are still there');
});

test('after the storm getFallbackCacheStats() shows evictions and calculatedSize <= maxSize', { timeout: 70000 }, async () => {
  const { stats, total } = await storm();
  assert.ok(stats && !stats.error, `getFallbackCacheStats(): ${JSON.stringify(stats)}`);
  assert.equal(stats.maxSize, 32 * 1024 * 1024);
  assert.ok(stats.calculatedSize <= stats.maxSize, JSON.stringify(stats));
  assert.ok(stats.calculatedSize > stats.maxSize / 2, `the store holds only ${stats.calculatedSize} bytes: ${JSON.stringify(stats)}`);
  assert.ok(stats.evictions > 0 && stats.itemCount < total, JSON.stringify(stats));
  assert.ok(stats.itemCount * 64 * 1024 <= stats.maxSize, JSON.stringify(stats));
});
