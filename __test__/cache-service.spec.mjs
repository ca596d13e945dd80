// RedisCacheService: JSON values, getOrSet (single-flight in process, and across processes
// with the lock option), invalidatePattern (SCAN + UNLINK), sessions, publish. Every write is
// read back with redis-cli.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useCache } from './harness/suite.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { writeScript } from './harness/node-script.mjs';
import { connectResp } from './harness/resp.mjs';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const ctx = useCache();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('set/get JSON values: stored as JSON text in Redis, decoded on get', async () => {
  const k = uniqueKey('json');
  const value = { name: 'Ada', tags: ['x', 'y'], n: 1.5, nested: { ok: true }, none: null };
  assert.equal(await ctx.cache.set(k, value, 100), true);
  assert.equal(await ctx.redis.cli('get', k), JSON.stringify(value));
  const ttl = Number(await ctx.redis.cli('ttl', k));
  assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
  assert.deepEqual(await ctx.cache.get(k), value);

  const k2 = uniqueKey('json-nottl');
  await ctx.cache.set(k2, [1, 'two']);
  assert.equal(await ctx.redis.cli('ttl', k2), '-1');
  await ctx.cache.set(k2, 'plain string');
  assert.equal(await ctx.redis.cli('get', k2), '"plain string"');
  assert.equal(await ctx.cache.get(k2), 'plain string');
});

test('get: missing is null, a non-JSON string written by someone else comes back raw', async () => {
  assert.equal(await ctx.cache.get(uniqueKey('missing')), null);
  const k = uniqueKey('raw');
  await ctx.redis.cli('set', k, 'not {json');
  assert.equal(await ctx.cache.get(k), 'not {json');
  await ctx.redis.cli('set', k, '42');
  assert.equal(await ctx.cache.get(k), 42);
});

test('delete and exists resolve booleans and act on the server', async () => {
  const k = uniqueKey('del');
  await ctx.redis.cli('set', k, '1');
  assert.equal(await ctx.cache.exists(k), true);
  assert.equal(await ctx.cache.delete(k), true);
  assert.equal(await ctx.redis.cli('exists', k), '0');
  assert.equal(await ctx.cache.exists(k), false);
  assert.equal(await ctx.cache.delete(k), false);
});

test('bad input rejects ERR_RESILIS_ARGUMENT naming the argument, nothing is written', async () => {
  const k = uniqueKey('bad');
  let err = await captureError(() => ctx.cache.set(k, undefined), 'set undefined');
  assertCode(err, 'ERR_RESILIS_ARGUMENT');
  assert.match(err.message, /set: value/);
  err = await captureError(() => ctx.cache.set(k, 1, -5), 'negative ttl');
  assertCode(err, 'ERR_RESILIS_ARGUMENT');
  assert.match(err.message, /ttlSeconds/);
  err = await captureError(() => ctx.cache.get(''), 'empty key');
  assertCode(err, 'ERR_RESILIS_ARGUMENT');
  err = await captureError(() => ctx.cache.getOrSet(k, 'not a function', 10), 'factory');
  assert.match(err.message, /factory must be a function/);
  const circular = {};
  circular.self = circular;
  err = await captureError(() => ctx.cache.set(k, circular), 'circular');
  assertCode(err, 'ERR_RESILIS_ARGUMENT');
  assert.equal(await ctx.redis.cli('exists', k), '0');
  assert.throws(() => ctx.resilis.createRedisCacheService({ service: {} }), { code: 'ERR_RESILIS_ARGUMENT' });
});

test('getOrSet: 20 concurrent misses call the factory once and all get its value', async () => {
  const k = uniqueKey('gos');
  let calls = 0;
  const factory = async () => {
    calls++;
    await sleep(50);
    return { computed: calls };
  };
  const values = await Promise.all(Array.from({ length: 20 }, () => ctx.cache.getOrSet(k, factory, 60)));
  assert.equal(calls, 1);
  for (const v of values) assert.deepEqual(v, { computed: 1 });
  assert.equal(await ctx.redis.cli('get', k), '{"computed":1}');
  const ttl = Number(await ctx.redis.cli('ttl', k));
  assert.ok(ttl > 50 && ttl <= 60, `ttl ${ttl}`);
  // a hit does not call the factory
  assert.deepEqual(await ctx.cache.getOrSet(k, factory, 60), { computed: 1 });
  assert.equal(calls, 1);
});

test('getOrSet: a factory error reaches every waiter and caches nothing; the next call retries', async () => {
  const k = uniqueKey('gos-err');
  let calls = 0;
  const failing = async () => {
    calls++;
    await sleep(20);
    throw new Error('db down');
  };
  const results = await Promise.allSettled(Array.from({ length: 5 }, () => ctx.cache.getOrSet(k, failing, 60)));
  assert.equal(calls, 1);
  for (const r of results) {
    assert.equal(r.status, 'rejected');
    assert.equal(r.reason.message, 'db down');
  }
  assert.equal(await ctx.redis.cli('exists', k), '0');
  assert.equal(await ctx.cache.getOrSet(k, async () => 'ok', 60), 'ok');
  assert.equal(await ctx.redis.cli('get', k), '"ok"');
});

test('getOrSet: a cached null and falsy values are hits, not misses', async () => {
  const k = uniqueKey('gos-null');
  let calls = 0;
  assert.equal(await ctx.cache.getOrSet(k, () => { calls++; return null; }, 60), null);
  assert.equal(await ctx.redis.cli('get', k), 'null');
  assert.equal(await ctx.cache.getOrSet(k, () => { calls++; return 'x'; }, 60), null);
  assert.equal(calls, 1);
});

test('getOrSet with { lock }: 3 Node processes missing together call the factory once', { timeout: 60000 }, async () => {
  const k = uniqueKey('gos-xproc');
  const counter = `${k}:factory-calls`;
  const file = await writeScript('get-or-set-lock', `
    const [key, counter, startAt] = process.argv.slice(2);
    const svc = resilis.createRedisService();
    const cache = resilis.createRedisCacheService({ service: svc });
    await svc.connect();
    await sleep(Number(startAt) - Date.now());
    const value = await cache.getOrSet(key, async () => {
      await svc.incr(counter);
      await sleep(400); // a slow load, so the others arrive while it runs
      return { by: process.pid };
    }, 60, { lock: { ttlMs: 5000, waitMs: 5000 } });
    console.log(JSON.stringify({ value, pid: process.pid }));
    await svc.disconnect();
  `);
  const startAt = String(Date.now() + 2000);
  const runs = await Promise.all([1, 2, 3].map(() => runNode([file, k, counter, startAt], { env: { REDIS_URL: ctx.redis.url } })));
  for (const r of runs) assert.equal(r.code, 0, `stdout: ${r.stdout}\nstderr: ${r.stderr}`);
  const outs = runs.map((r) => lastJson(r.stdout));
  assert.equal(await ctx.redis.cli('get', counter), '1', 'the factory ran in exactly one process');
  const loader = outs[0].value.by;
  assert.ok(outs.some((o) => o.pid === loader), 'the value comes from one of the three processes');
  for (const o of outs) assert.deepEqual(o.value, { by: loader });
  assert.equal(await ctx.redis.cli('get', k), JSON.stringify({ by: loader }));
  assert.equal(await ctx.redis.cli('exists', `getOrSet:lock:${k}`), '0', 'the loader released its lock');
});

test('getOrSet with { lock }: a waiter whose loader failed takes over the load', async () => {
  const k = uniqueKey('gos-takeover');
  // another "process" holds the lock and then goes away without writing a value
  await ctx.redis.cli('set', `getOrSet:lock:${k}`, 'someone-else', 'PX', '300');
  const started = Date.now();
  const value = await ctx.cache.getOrSet(k, async () => 'mine', 60, { lock: { ttlMs: 1000, waitMs: 5000 } });
  assert.equal(value, 'mine');
  const waited = Date.now() - started;
  assert.ok(waited >= 250 && waited < 3000, `took over after the lock expired (${waited} ms)`);
  assert.equal(await ctx.redis.cli('get', k), '"mine"');
});

test('invalidatePattern deletes 10,000 matching keys with SCAN + UNLINK (never KEYS) and leaves others', { timeout: 60000 }, async () => {
  const prefix = uniqueKey('inv');
  const keys = [];
  for (let i = 0; i < 10000; i++) keys.push(`${prefix}:user:${i}`);
  for (let i = 0; i < 10000; i += 1000) {
    await ctx.svc.pipeline(keys.slice(i, i + 1000).map((k) => ({ command: 'set', args: [k, 'v'] })));
  }
  for (let i = 0; i < 50; i++) await ctx.redis.cli('set', `${prefix}:keep:${i}`, 'v');
  assert.equal(Number(await ctx.redis.cli('eval', `return #redis.call('keys', ARGV[1])`, '0', `${prefix}:user:*`)), 10000);

  await ctx.redis.cli('config', 'resetstat');
  const deleted = await ctx.cache.invalidatePattern(`${prefix}:user:*`);
  const stats = await ctx.redis.cli('info', 'commandstats');
  assert.equal(deleted, 10000);
  assert.equal(Number(await ctx.redis.cli('eval', `return #redis.call('keys', ARGV[1])`, '0', `${prefix}:user:*`)), 0);
  assert.equal(Number(await ctx.redis.cli('eval', `return #redis.call('keys', ARGV[1])`, '0', `${prefix}:keep:*`)), 50);
  assert.doesNotMatch(stats, /cmdstat_keys:/, 'KEYS was never sent');
  assert.match(stats, /cmdstat_scan:calls=\d+/);
  const unlinkCalls = Number(/cmdstat_unlink:calls=(\d+)/.exec(stats)[1]);
  assert.ok(unlinkCalls >= 1 && unlinkCalls < 200, `UNLINK in batches (${unlinkCalls} calls)`);
  assert.equal(await ctx.cache.invalidatePattern(`${prefix}:user:*`), 0);
});

test('sessions: setSession / getSession / touchSession / deleteSession under the session: prefix', async () => {
  const id = uniqueKey('sess');
  const data = { userId: 'u1', role: 'admin', permissions: ['read', 'write'] };
  assert.equal(await ctx.cache.setSession(id, data, 100), true);
  assert.equal(await ctx.redis.cli('get', `session:${id}`), JSON.stringify(data));
  assert.ok(Number(await ctx.redis.cli('ttl', `session:${id}`)) <= 100);
  assert.deepEqual(await ctx.cache.getSession(id), data);
  assert.equal(await ctx.cache.touchSession(id, 5000), true);
  const ttl = Number(await ctx.redis.cli('ttl', `session:${id}`));
  assert.ok(ttl > 4000 && ttl <= 5000, `touch slid the TTL to ${ttl}`);
  assert.equal(await ctx.cache.deleteSession(id), true);
  assert.equal(await ctx.redis.cli('exists', `session:${id}`), '0');
  assert.equal(await ctx.cache.getSession(id), null);
  assert.equal(await ctx.cache.touchSession(id, 10), false);

  const custom = ctx.resilis.createRedisCacheService({ service: ctx.svc, sessionPrefix: 'sess:' });
  await custom.setSession(id, { a: 1 });
  assert.equal(await ctx.redis.cli('get', `sess:${id}`), '{"a":1}');
  const dflt = Number(await ctx.redis.cli('ttl', `sess:${id}`));
  assert.ok(dflt > 86000 && dflt <= 86400, `default session TTL is a day (${dflt})`);
});

test('publish JSON-encodes objects and passes strings through', async () => {
  const channel = uniqueKey('chan');
  const sub = await connectResp(ctx.redis.port);
  try {
    const messages = [];
    sub.onPush((m) => messages.push(m[2]));
    await sub.command('subscribe', channel);
    assert.equal(await ctx.cache.publish(channel, { hello: 'world' }), 1);
    assert.equal(await ctx.cache.publish(channel, 'plain'), 1);
    const deadline = Date.now() + 3000;
    while (messages.length < 2 && Date.now() < deadline) await sleep(20);
    assert.deepEqual(messages, ['{"hello":"world"}', 'plain']);
  } finally {
    sub.close();
  }
});

test('getRedisCacheService() is a singleton over the getRedisService() singleton', () => {
  const a = ctx.resilis.getRedisCacheService();
  assert.equal(a, ctx.resilis.getRedisCacheService());
  assert.equal(a.service, ctx.resilis.getRedisService());
  assert.equal(typeof a.getOrSet, 'function');
});
