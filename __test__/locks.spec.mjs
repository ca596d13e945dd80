// Locks: acquire / release / extend with Lua on a real server, fencing tokens, withLock
// auto-extension, and contention between several Node processes with no double ownership.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { remember } from './harness/service.mjs';
import { useCache } from './harness/suite.mjs';
import { openCache } from './harness/cache.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { writeScript } from './harness/node-script.mjs';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const ctx = useCache({
  connect: false,
  setup: (c) => { c.other = openCache(c.redis).cache; }, // a second service: another owner
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('acquireLock stores "<fence>:<random>" with the TTL under lock:{key}; a second acquire gets null', async () => {
  const k = uniqueKey('lock');
  const token = await ctx.cache.acquireLock(k, 10);
  assert.match(token, /^\d+:[0-9a-f]{24}$/);
  assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), token);
  const pttl = Number(await ctx.redis.cli('pttl', `lock:{${k}}`));
  assert.ok(pttl > 9000 && pttl <= 10000, `pttl ${pttl}`);
  assert.equal(ctx.resilis.parseFence(token), Number(await ctx.redis.cli('get', `lock:{${k}}:fence`)));
  assert.equal(ctx.cache.parseFence(token), ctx.resilis.parseFence(token));
  assert.equal(await ctx.other.acquireLock(k, 10), null);
  assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), token, 'the failed acquire left the lock alone');
});

test('releaseLock deletes only with the owner token; extendLock extends only for the owner', async () => {
  const k = uniqueKey('lock-rel');
  const token = await ctx.cache.acquireLock(k, 5);
  assert.equal(await ctx.other.releaseLock(k, '1:not-the-token'), false);
  assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), token);
  assert.equal(await ctx.other.extendLock(k, '1:not-the-token', 100), false);
  assert.ok(Number(await ctx.redis.cli('pttl', `lock:{${k}}`)) <= 5000);
  assert.equal(await ctx.cache.extendLock(k, token, 100), true);
  assert.ok(Number(await ctx.redis.cli('pttl', `lock:{${k}}`)) > 90000);
  assert.equal(await ctx.cache.releaseLock(k, token), true);
  assert.equal(await ctx.redis.cli('exists', `lock:{${k}}`), '0');
  assert.equal(await ctx.cache.releaseLock(k, token), false, 'a second release is a no-op');
  assert.equal(await ctx.cache.extendLock(k, token, 10), false, 'a released lock cannot be extended');
});

test('an expired lock can be taken by another owner, whose fence is larger; the old owner cannot release it', async () => {
  const k = uniqueKey('lock-exp');
  const first = await ctx.cache.acquireLock(k, 0.2);
  await sleep(300);
  const second = await ctx.other.acquireLock(k, 10);
  assert.ok(second, 'free after expiry');
  assert.ok(ctx.resilis.parseFence(second) > ctx.resilis.parseFence(first));
  assert.equal(await ctx.cache.releaseLock(k, first), false);
  assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), second);
});

test('a key that already has a hash tag keeps it: lock and fence share its slot', async () => {
  const k = `{${uniqueKey('tagged')}}:job`;
  const token = await ctx.cache.acquireLock(k, 5);
  assert.equal(await ctx.redis.cli('get', `lock:${k}`), token);
  assert.equal(await ctx.redis.cli('get', `lock:${k}:fence`), String(ctx.resilis.parseFence(token)));
});

test('contention from 4 Node processes: never two owners at once, fences strictly increase', { timeout: 90000 }, async () => {
  const k = uniqueKey('contend');
  const file = await writeScript('lock-contender', `
    const [key, rounds, startAt] = process.argv.slice(2);
    const svc = resilis.createRedisService();
    const cache = resilis.createRedisCacheService({ service: svc });
    await svc.connect();
    await sleep(Number(startAt) - Date.now());
    let maxHolders = 0;
    const fences = [];
    for (let i = 0; i < Number(rounds); i++) {
      let token = null;
      while (!(token = await cache.acquireLock(key, 5))) await sleep(1);
      const holders = await svc.incr(key + ':holders');
      maxHolders = Math.max(maxHolders, holders);
      await svc.rpush(key + ':fences', String(resilis.parseFence(token)));
      await sleep(Math.floor(Math.random() * 3));
      await svc.decr(key + ':holders');
      fences.push(resilis.parseFence(token));
      if (!(await cache.releaseLock(key, token))) throw new Error('lost my lock');
    }
    console.log(JSON.stringify({ maxHolders, fences }));
    await svc.disconnect();
  `);
  const rounds = 25;
  const startAt = String(Date.now() + 2000);
  const runs = await Promise.all([1, 2, 3, 4].map(() => runNode([file, k, String(rounds), startAt], { env: { REDIS_URL: ctx.redis.url } })));
  for (const r of runs) assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const outs = runs.map((r) => lastJson(r.stdout));
  for (const o of outs) {
    assert.equal(o.maxHolders, 1, 'a process saw another owner inside the critical section');
    for (let i = 1; i < o.fences.length; i++) assert.ok(o.fences[i] > o.fences[i - 1]);
  }
  // the order in which owners wrote under the lock is the order of their fences
  const log = (await ctx.redis.cli('lrange', `${k}:fences`, '0', '-1')).split('\n').map(Number);
  assert.equal(log.length, 4 * rounds);
  for (let i = 1; i < log.length; i++) assert.ok(log[i] > log[i - 1], `fence ${log[i]} after ${log[i - 1]}`);
  assert.equal(new Set(outs.flatMap((o) => o.fences)).size, 4 * rounds);
  assert.equal(await ctx.redis.cli('get', `${k}:holders`), '0');
  assert.equal(await ctx.redis.cli('exists', `lock:{${k}}`), '0');
});

test('withLock keeps extending the lock while fn runs past the TTL, then releases it', { timeout: 20000 }, async () => {
  const k = uniqueKey('with-extend');
  const seen = [];
  const result = await ctx.cache.withLock(k, async ({ token, fence, signal }) => {
    assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), token);
    assert.equal(fence, ctx.resilis.parseFence(token));
    for (let i = 0; i < 5; i++) {
      await sleep(500); // 2.5 s in all against a 1 s TTL
      seen.push({ pttl: Number(await ctx.redis.cli('pttl', `lock:{${k}}`)), other: await ctx.other.acquireLock(k, 1) });
    }
    assert.equal(signal.aborted, false);
    return 'done';
  }, { ttl: 1 });
  assert.equal(result, 'done');
  for (const s of seen) {
    assert.ok(s.pttl > 0, `the lock was still held (pttl ${s.pttl})`);
    assert.equal(s.other, null, 'nobody else could take it');
  }
  assert.equal(await ctx.redis.cli('exists', `lock:{${k}}`), '0', 'released after fn');
});

test('withLock(key, fn, ttlSeconds): fn errors propagate and the lock is released', async () => {
  const k = uniqueKey('with-throw');
  const err = await captureError(() => ctx.cache.withLock(k, async () => { throw new Error('boom'); }, 10));
  assert.equal(err.message, 'boom');
  assert.equal(await ctx.redis.cli('exists', `lock:{${k}}`), '0');
});

test('withLock retries while the lock is held, then rejects ERR_RESILIS_LOCKED', async () => {
  const k = uniqueKey('with-retry');
  const held = await ctx.other.acquireLock(k, 10);
  const started = Date.now();
  const err = await captureError(() => ctx.cache.withLock(k, async () => 'never', { ttl: 5, retries: 3, retryDelay: 100 }));
  assertCode(err, 'ERR_RESILIS_LOCKED');
  assert.ok(Date.now() - started >= 280, 'waited retryDelay between the 4 attempts');
  assert.equal(await ctx.redis.cli('get', `lock:{${k}}`), held);

  setTimeout(() => ctx.other.releaseLock(k, held), 150);
  const v = await ctx.cache.withLock(k, async ({ fence }) => fence, { ttl: 5, retries: 20, retryDelay: 50 });
  assert.ok(v > ctx.resilis.parseFence(held), 'acquired once the holder released');
});

test('withLock aborts its signal when the lock is lost (deleted behind its back)', { timeout: 10000 }, async () => {
  const k = uniqueKey('with-lost');
  const aborted = await ctx.cache.withLock(k, async ({ signal }) => {
    await ctx.redis.cli('del', `lock:{${k}}`);
    await sleep(900); // the extension at ttl/2 = 500 ms finds the lock gone
    return signal.aborted ? signal.reason.code : 'not aborted';
  }, { ttl: 1 });
  assert.equal(aborted, 'ERR_RESILIS_LOCK_LOST');
});

test('memory mode (enabled: false): locks work within the process, with fences', async () => {
  const mem = ctx.resilis.createRedisCacheService({ service: remember(ctx.resilis.createRedisService({ enabled: false })) });
  const t1 = await mem.acquireLock('m', 5);
  assert.equal(ctx.resilis.parseFence(t1), 1);
  assert.equal(await mem.acquireLock('m', 5), null);
  assert.equal(await mem.extendLock('m', t1, 5), true);
  assert.equal(await mem.releaseLock('m', 'x'), false);
  assert.equal(await mem.releaseLock('m', t1), true);
  assert.equal(ctx.resilis.parseFence(await mem.acquireLock('m', 5)), 2);
  assert.equal(await mem.withLock('n', async ({ fence }) => fence, 5), 1);
});

test('bad arguments reject ERR_RESILIS_ARGUMENT', async () => {
  for (const [fn, re] of [
    [() => ctx.cache.acquireLock('', 5), /lock key must be a non-empty string/],
    [() => ctx.cache.acquireLock('k', -1), /ttlSeconds must be a positive number/],
    [() => ctx.cache.releaseLock('k', 5), /token must be a non-empty string/],
    [() => ctx.cache.withLock('k', 'nope'), /fn must be a function/],
    [() => ctx.cache.withLock('k', async () => 1, { retries: -1 }), /retries must be an integer >= 0/],
  ]) {
    const err = await captureError(fn);
    assertCode(err, 'ERR_RESILIS_ARGUMENT');
    assert.match(err.message, re);
  }
  assert.equal(ctx.resilis.parseFence('nonsense'), null);
  assert.equal(ctx.resilis.parseFence(null), null);
});
