// Strings and keys: every value written by resilis is read back with redis-cli or an independent
// RESP connection, and every value written by redis-cli is read back with resilis.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectResp } from './harness/resp.mjs';
import { useService } from './harness/suite.mjs';
import { uniqueKey } from './harness/util.mjs';

const ctx = useService({
  setup: async (c) => { c.raw = await connectResp(c.redis.port); }, // an independent connection
  teardown: (c) => { c.raw?.close(); },
});

const ttlOf = async (k) => Number(await ctx.redis.cli('ttl', k));
const pttlOf = async (k) => Number(await ctx.redis.cli('pttl', k));

test('set/get: resilis write is in Redis, redis-cli write is read by resilis', async () => {
  const k1 = uniqueKey('set');
  assert.equal(await ctx.svc.set(k1, 'hello world'), 'OK');
  assert.equal(await ctx.redis.cli('get', k1), 'hello world');
  assert.equal(await ttlOf(k1), -1, 'plain set must not set a TTL');

  const k2 = uniqueKey('cli');
  await ctx.redis.cli('set', k2, 'from cli');
  assert.equal(await ctx.svc.get(k2), 'from cli');
});

test('get of a missing key resolves null', async () => {
  assert.equal(await ctx.svc.get(uniqueKey('missing')), null);
});

test('unicode strings round trip', async () => {
  const k = uniqueKey('utf8');
  const v = 'héllo wörld ✓ 日本語 🚀';
  await ctx.svc.set(k, v);
  assert.equal((await ctx.raw.command('get', k)).toString('utf8'), v);
  assert.equal(await ctx.svc.get(k), v);
});

test('set with a number TTL (seconds) really sets the TTL', async () => {
  const k = uniqueKey('ttlnum');
  assert.equal(await ctx.svc.set(k, 'v', 100), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'v');
  const ttl = await ttlOf(k);
  assert.ok(ttl > 0 && ttl <= 100, `ttl ${ttl} should be in (0, 100]`);
});

test('set with { EX } and { ex } sets a TTL in seconds', async () => {
  const k1 = uniqueKey('EX');
  assert.equal(await ctx.svc.set(k1, 'a', { EX: 300 }), 'OK');
  const t1 = await ttlOf(k1);
  assert.ok(t1 > 100 && t1 <= 300, `ttl ${t1} should be in (100, 300]`);

  const k2 = uniqueKey('ex');
  assert.equal(await ctx.svc.set(k2, 'b', { ex: 3600 }), 'OK');
  const t2 = await ttlOf(k2);
  assert.ok(t2 > 3000 && t2 <= 3600, `ttl ${t2} should be in (3000, 3600]`);
  assert.equal(await ctx.redis.cli('get', k2), 'b');
});

test('set with { PX } and { px } sets a TTL in milliseconds', async () => {
  const k1 = uniqueKey('PX');
  assert.equal(await ctx.svc.set(k1, 'a', { PX: 50000 }), 'OK');
  const p1 = await pttlOf(k1);
  assert.ok(p1 > 1000 && p1 <= 50000, `pttl ${p1} should be in (1000, 50000]`);

  const k2 = uniqueKey('px');
  assert.equal(await ctx.svc.set(k2, 'b', { px: 70000 }), 'OK');
  const p2 = await pttlOf(k2);
  assert.ok(p2 > 50000 && p2 <= 70000, `pttl ${p2} should be in (50000, 70000]`);
});

test('set NX: writes only when absent, resolves null otherwise', async () => {
  const k = uniqueKey('NX');
  assert.equal(await ctx.svc.set(k, 'first', { NX: true }), 'OK');
  assert.equal(await ctx.svc.set(k, 'second', { NX: true }), null);
  assert.equal(await ctx.redis.cli('get', k), 'first');
});

test('set NX with EX (lock pattern) sets the TTL', async () => {
  const k = uniqueKey('NXEX');
  assert.equal(await ctx.svc.set(k, 'tok', { NX: true, EX: 30 }), 'OK');
  const ttl = await ttlOf(k);
  assert.ok(ttl > 0 && ttl <= 30, `ttl ${ttl}`);
});

test('set XX: writes only when present, resolves null otherwise', async () => {
  const k = uniqueKey('XX');
  assert.equal(await ctx.svc.set(k, 'nope', { XX: true }), null);
  assert.equal(await ctx.redis.cli('exists', k), '0', 'XX on a missing key must not create it');
  await ctx.redis.cli('set', k, 'old');
  assert.equal(await ctx.svc.set(k, 'new', { XX: true }), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'new');
});

test('set KEEPTTL keeps the TTL; a plain set clears it', async () => {
  const k = uniqueKey('KEEPTTL');
  await ctx.redis.cli('set', k, 'v1', 'EX', '500');
  assert.equal(await ctx.svc.set(k, 'v2', { KEEPTTL: true }), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'v2');
  const ttl = await ttlOf(k);
  assert.ok(ttl > 0 && ttl <= 500, `KEEPTTL lost the ttl: ${ttl}`);
  await ctx.svc.set(k, 'v3');
  assert.equal(await ttlOf(k), -1);
});

test('set GET resolves the old value (null when absent)', async () => {
  const k = uniqueKey('GET');
  assert.equal(await ctx.svc.set(k, 'one', { GET: true }), null);
  assert.equal(await ctx.svc.set(k, 'two', { GET: true }), 'one');
  assert.equal(await ctx.redis.cli('get', k), 'two');
});

test('numbers as values are stored as their decimal text', async () => {
  const k1 = uniqueKey('int');
  const k2 = uniqueKey('float');
  const k3 = uniqueKey('neg');
  await ctx.svc.set(k1, 42);
  await ctx.svc.set(k2, 3.5);
  await ctx.svc.set(k3, -7);
  assert.equal(await ctx.redis.cli('get', k1), '42');
  assert.equal(await ctx.redis.cli('get', k2), '3.5');
  assert.equal(await ctx.redis.cli('get', k3), '-7');
  assert.equal(await ctx.svc.get(k1), '42', 'replies are strings');
  assert.equal(await ctx.svc.incr(k1), 43);
});

test('binary-safe Buffers: bytes 0..255 written by resilis arrive intact', async () => {
  const k = uniqueKey('bin-w');
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  assert.equal(await ctx.svc.set(k, bytes), 'OK');
  const stored = await ctx.raw.command('get', k);
  assert.ok(Buffer.isBuffer(stored));
  assert.equal(stored.length, 256);
  assert.deepEqual(stored, bytes);
  assert.equal(await ctx.redis.cli('strlen', k), '256');
});

test('getBuffer returns the exact bytes written by another client', async () => {
  const k = uniqueKey('bin-r');
  const bytes = Buffer.concat([
    Buffer.from(Array.from({ length: 256 }, (_, i) => 255 - i)),
    Buffer.from([0, 0, 13, 10, 0xc3, 0x28]), // NULs, CRLF, invalid UTF-8
  ]);
  await ctx.raw.command('set', k, bytes);
  const got = await ctx.svc.getBuffer(k);
  assert.ok(Buffer.isBuffer(got), `getBuffer should resolve a Buffer, got ${typeof got}`);
  assert.deepEqual(got, bytes);
});

test('getBuffer of a missing key resolves null; round trip through resilis alone', async () => {
  assert.equal(await ctx.svc.getBuffer(uniqueKey('nobuf')), null);
  const k = uniqueKey('bin-rt');
  const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  await ctx.svc.set(k, bytes);
  assert.deepEqual(await ctx.svc.getBuffer(k), bytes);
});

test('mget returns values in order with null for missing keys', async () => {
  const a = uniqueKey('mget-a');
  const b = uniqueKey('mget-b');
  const missing = uniqueKey('mget-none');
  await ctx.redis.cli('mset', a, 'A', b, 'B');
  assert.deepEqual(await ctx.svc.mget([a, missing, b]), ['A', null, 'B']);
});

test('mset(record) writes every pair', async () => {
  const a = uniqueKey('mset-a');
  const b = uniqueKey('mset-b');
  assert.equal(await ctx.svc.mset({ [a]: 'one', [b]: 2 }), 'OK');
  assert.equal(await ctx.redis.cli('get', a), 'one');
  assert.equal(await ctx.redis.cli('get', b), '2');
  assert.equal(await ttlOf(a), -1);
});

test('mset(record, ttl) sets the TTL on every key', async () => {
  const a = uniqueKey('msetttl-a');
  const b = uniqueKey('msetttl-b');
  assert.equal(await ctx.svc.mset({ [a]: 'x', [b]: 'y' }, 200), 'OK');
  for (const k of [a, b]) {
    assert.ok(await ctx.redis.cli('get', k));
    const ttl = await ttlOf(k);
    assert.ok(ttl > 0 && ttl <= 200, `${k} ttl ${ttl}`);
  }
});

test('del(...keys) and del([keys]) return the count removed', async () => {
  const [a, b, c, d] = [uniqueKey('del-a'), uniqueKey('del-b'), uniqueKey('del-c'), uniqueKey('del-d')];
  await ctx.redis.cli('mset', a, '1', b, '2', c, '3', d, '4');
  assert.equal(await ctx.svc.del(a), 1);
  assert.equal(await ctx.redis.cli('exists', a), '0');
  assert.equal(await ctx.svc.del(b, c, uniqueKey('del-none')), 2);
  assert.equal(await ctx.redis.cli('exists', b, c), '0');
  assert.equal(await ctx.svc.del([d]), 1);
  assert.equal(await ctx.redis.cli('exists', d), '0');
});

test('exists counts existing keys (a repeated key counts twice, as in Redis)', async () => {
  const a = uniqueKey('ex-a');
  const b = uniqueKey('ex-b');
  await ctx.redis.cli('set', a, '1');
  assert.equal(await ctx.svc.exists(a), 1);
  assert.equal(await ctx.svc.exists(b), 0);
  assert.equal(await ctx.svc.exists(a, b), 1);
  assert.equal(await ctx.svc.exists(a, a), 2);
});

test('expire sets a TTL (1) and returns 0 for a missing key; ttl reads -1/-2', async () => {
  const k = uniqueKey('expire');
  await ctx.redis.cli('set', k, 'v');
  assert.equal(await ctx.svc.ttl(k), -1);
  assert.equal(await ctx.svc.expire(k, 600), 1);
  const t = await ttlOf(k);
  assert.ok(t > 0 && t <= 600, `ttl ${t}`);
  const viaSvc = await ctx.svc.ttl(k);
  assert.equal(typeof viaSvc, 'number');
  assert.ok(viaSvc > 0 && viaSvc <= 600);
  assert.equal(await ctx.svc.expire(uniqueKey('expire-none'), 10), 0);
  assert.equal(await ctx.svc.ttl(uniqueKey('ttl-none')), -2);
});

test('incr, incrBy, decr, decrBy resolve numbers and change the stored value', async () => {
  const k = uniqueKey('counter');
  assert.equal(await ctx.svc.incr(k), 1);
  assert.equal(await ctx.svc.incrBy(k, 10), 11);
  assert.equal(await ctx.svc.decr(k), 10);
  assert.equal(await ctx.svc.decrBy(k, 4), 6);
  assert.equal(await ctx.redis.cli('get', k), '6');
  await ctx.redis.cli('set', k, '100');
  assert.equal(await ctx.svc.incr(k), 101);
});

test('scan walks every matching key exactly as Redis has them', async () => {
  const prefix = uniqueKey('scan');
  const want = new Set();
  const args = [];
  for (let i = 0; i < 37; i++) {
    want.add(`${prefix}:${i}`);
    args.push(`${prefix}:${i}`, String(i));
  }
  await ctx.redis.cli('mset', ...args);
  await ctx.redis.cli('set', uniqueKey('scan-other'), 'x'); // must not match

  const seen = new Set();
  let cursor = '0';
  let rounds = 0;
  do {
    const reply = await ctx.svc.scan(cursor, { match: `${prefix}:*`, count: 10 });
    assert.ok(Array.isArray(reply) && reply.length === 2, 'scan resolves [cursor, keys]');
    const [next, keys] = reply;
    assert.ok(Array.isArray(keys));
    for (const key of keys) seen.add(key);
    cursor = String(next);
    rounds++;
    assert.ok(rounds < 10000, 'scan never returned cursor 0');
  } while (cursor !== '0');
  assert.deepEqual([...seen].sort(), [...want].sort());
});
