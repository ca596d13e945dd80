// The near cache (nearCache: { maxSize, ttl }): reads kept in-process and invalidated by Redis with
// CLIENT TRACKING. Correctness, not speed: another client's acknowledged write is never hidden past the
// invalidation delay (measured), a killed tracking connection serves nothing stale, and a randomized
// interleaving of reads and external writes stays consistent with the server's own history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connectResp } from './harness/resp.mjs';
import { maybeTls } from './harness/tls.mjs';
import { openService as openPlainService, openServiceFromEnv as openPlainServiceFromEnv, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';
import { writeHistory } from './harness/near-cache-history.mjs';

// RESILIS_NEAR_TLS=1 (near-cache-tls.spec.mjs): every test below over mutual TLS, the lane and the
// invalidation connection both speaking it.
const deployment = maybeTls(process.env.RESILIS_NEAR_TLS === '1');
const openService = (server, options = {}) => openPlainService(server, deployment.options(options));
const openServiceFromEnv = (env, options) => openPlainServiceFromEnv(deployment.env(env), options);

let redis;
let writer; // another client: an independent RESP connection

before(async () => {
  await deployment.init();
  redis = await deployment.startRedis();
  writer = await connectResp(redis.port, '127.0.0.1', deployment.socket());
});

after(async () => {
  writer?.close();
  await closeServices();
  await redis?.stop();
  await deployment.cleanup();
});

const near = (options = {}) => openService(redis, { nearCache: { maxSize: 4 * 1024 * 1024, ttl: 30_000 }, ...options });

async function nearStats(svc) {
  return (await svc.getStats()).nearCache;
}

test('repeated reads of get, hget, hgetall and mget are served in-process (hits counted)', async () => {
  const svc = near();
  const [k, h] = [uniqueKey('nc'), uniqueKey('nch')];
  await writer.command('SET', k, 'v1');
  await writer.command('HSET', h, 'f', 'x', 'g', 'y');
  assert.equal(await svc.get(k), 'v1');
  assert.equal(await svc.hget(h, 'f'), 'x');
  assert.deepEqual(await svc.hgetall(h), { f: 'x', g: 'y' });
  assert.deepEqual(await svc.mget([k, 'nc:none']), ['v1', null]);
  const before = await nearStats(svc);
  const calls = Number((await redis.cli('info', 'commandstats')).match(/cmdstat_get:calls=(\d+)/)[1]);
  for (let i = 0; i < 50; i++) {
    assert.equal(await svc.get(k), 'v1');
    assert.equal(await svc.hget(h, 'f'), 'x');
    assert.deepEqual(await svc.hgetall(h), { f: 'x', g: 'y' });
    assert.deepEqual(await svc.mget([k, 'nc:none']), ['v1', null]);
  }
  const afterStats = await nearStats(svc);
  assert.ok(afterStats.hits - before.hits >= 200, `hits ${afterStats.hits - before.hits}`);
  const callsAfter = Number((await redis.cli('info', 'commandstats')).match(/cmdstat_get:calls=(\d+)/)[1]);
  assert.equal(callsAfter, calls, 'no GET reached Redis for the cached reads');
  assert.equal(afterStats.tracking, true);
});

test("another client's write is seen within the invalidation delay, and the old value never comes back", async () => {
  const svc = near();
  const k = uniqueKey('nc-ext');
  await writer.command('SET', k, 'old');
  assert.equal(await svc.get(k), 'old');
  assert.equal(await svc.get(k), 'old'); // cached
  const delays = [];
  for (let round = 1; round <= 20; round++) {
    const value = `new-${round}`;
    await writer.command('SET', k, value); // acknowledged here
    const acked = process.hrtime.bigint();
    let seen;
    while ((seen = await svc.get(k)) !== value) {
      assert.ok(Number(process.hrtime.bigint() - acked) / 1e6 < 200, `still ${seen} 200 ms after the write`);
      await new Promise((r) => setImmediate(r));
    }
    delays.push(Number(process.hrtime.bigint() - acked) / 1e6);
    for (let i = 0; i < 20; i++) assert.equal(await svc.get(k), value, 'an older value came back');
  }
  delays.sort((a, b) => a - b);
  const p50 = delays[delays.length >> 1];
  const max = delays[delays.length - 1];
  console.log(`# invalidation delay after an acknowledged external write: p50 ${p50.toFixed(3)} ms, max ${max.toFixed(3)} ms`);
  assert.ok(max < 200);
});

test('own writes are read back at once (no wait for the invalidation)', async () => {
  const svc = near();
  const k = uniqueKey('nc-own');
  await svc.set(k, 'a');
  assert.equal(await svc.get(k), 'a');
  assert.equal(await svc.get(k), 'a');
  for (let i = 0; i < 50; i++) {
    await svc.set(k, `v${i}`);
    assert.equal(await svc.get(k), `v${i}`);
  }
  // In one tick: the write is queued before the read, so the read goes after it.
  const [, v] = await Promise.all([svc.set(k, 'same-tick'), svc.get(k)]);
  assert.equal(v, 'same-tick');
  await svc.del(k);
  assert.equal(await svc.get(k), null);
});

test('a killed tracking connection: nothing stale is served, caching resumes on a new one', async () => {
  const name = uniqueKey('nc-kill').replace(/:/g, '-');
  const svc = near({ connectionName: name });
  const k = uniqueKey('nc-k');
  await writer.command('SET', k, 'before');
  assert.equal(await svc.get(k), 'before');
  assert.equal(await svc.get(k), 'before');
  const list = await redis.cli('client', 'list');
  const tracker = list.split('\n').find((l) => l.includes(` name=${name}-tracking `));
  assert.ok(tracker, 'the tracking connection is named <connectionName>-tracking');
  await redis.cli('client', 'kill', 'id', tracker.match(/^id=(\d+)/)[1]);
  await writer.command('SET', k, 'after'); // its invalidation went to a dead connection
  assert.equal(await svc.get(k), 'after');
  // A new tracking connection comes up and the cache works (and invalidates) again.
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  await eventually(async () => {
    const hits = (await nearStats(svc)).hits;
    await svc.get(k);
    return (await nearStats(svc)).hits > hits;
  }, 5000, 20);
  await writer.command('SET', k, 'third');
  await eventually(async () => (await svc.get(k)) === 'third', 1000, 5);
});

test('property: random reads interleaved with external writes never return a value older than the last write acknowledged 200 ms before the read', async (t) => {
  const svc = near();
  const keys = Array.from({ length: 8 }, () => uniqueKey('nc-prop'));
  const history = writeHistory({ boundMs: 200 });
  for (const k of keys) {
    await writer.command('SET', k, '0');
    history.acked(k, 0);
  }
  const deadline = Date.now() + 3000;
  const writes = (async () => {
    while (Date.now() < deadline) {
      const k = keys[Math.floor(Math.random() * keys.length)];
      const v = history.issue();
      await writer.command('SET', k, String(v));
      history.acked(k, v);
      if (Math.random() < 0.5) await new Promise((r) => setTimeout(r, 1));
    }
  })();
  const readers = Array.from({ length: 4 }, async () => {
    while (Date.now() < deadline) {
      const k = keys[Math.floor(Math.random() * keys.length)];
      const started = process.hrtime.bigint();
      history.check(k, await svc.get(k), started);
      if (Math.random() < 0.3) await new Promise((r) => setImmediate(r));
    }
  });
  await Promise.all([writes, ...readers]);
  const s = await nearStats(svc);
  t.diagnostic(`${history.reads} reads, ${s.hits} hits, max staleness ${history.maxStalenessMs.toFixed(3)} ms`);
  assert.ok(history.reads > 1000 && s.hits > 0, `reads ${history.reads}, hits ${s.hits}`);
});

test('REDIS_NEAR_CACHE=true turns it on from the environment; off by default; bad values are config errors', async () => {
  const on = openServiceFromEnv({ REDIS_URL: redis.url, REDIS_NEAR_CACHE: 'true', REDIS_NEAR_CACHE_TTL: '1000' });
  const k = uniqueKey('nc-env');
  await writer.command('SET', k, 'v');
  for (let i = 0; i < 3; i++) await on.get(k); // connect (lazily), fill, hit
  assert.ok((await nearStats(on)).hits >= 1);
  const off = openService(redis);
  await off.get(k);
  assert.equal((await off.getStats()).nearCache, null);
  assert.throws(() => openService(redis, { nearCache: 'yes' }), (e) => e.code === 'ERR_RESILIS_CONFIG' && /nearCache/.test(e.message));
  assert.throws(() => openServiceFromEnv({ REDIS_URL: redis.url, REDIS_NEAR_CACHE: 'maybe' }), (e) => e.code === 'ERR_RESILIS_CONFIG' && /REDIS_NEAR_CACHE/.test(e.message));
});
