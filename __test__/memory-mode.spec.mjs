// No Redis at all: `enabled: false` serves the command surface from the
// in-process store, and in development a first connect that finds no Redis
// switches to it; with `enabled: true` the same situation rejects.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { loadResilis } from './harness/package.mjs';
import { freePort } from './harness/ports.mjs';

const { createRedisService } = await loadResilis();
const services = [];
after(async () => {
  for (const s of services) await s.disconnect().catch(() => {});
});

function open(options) {
  const s = createRedisService(options);
  services.push(s);
  return s;
}

test('enabled: false serves strings, hashes, lists, sets, sorted sets and TTLs from memory', async () => {
  const s = open({ enabled: false });
  assert.equal(await s.set('m:k', 'v', { EX: 100 }), 'OK');
  assert.equal(await s.get('m:k'), 'v');
  assert.ok((await s.ttl('m:k')) > 90);
  assert.equal(await s.set('m:k', 'w', { NX: true }), null);
  assert.equal(await s.incr('m:n'), 1);
  assert.equal(await s.incrBy('m:n', 4), 5);
  assert.equal(await s.hset('m:h', { a: 1, b: 'x' }), 2);
  assert.deepEqual(await s.hgetall('m:h'), { a: '1', b: 'x' });
  assert.equal(await s.lpush('m:l', 'a', 'b'), 2);
  assert.deepEqual(await s.lrange('m:l', 0, -1), ['b', 'a']);
  assert.equal(await s.sadd('m:s', 'x', 'y'), 2);
  assert.equal(await s.sismember('m:s', 'x'), 1);
  assert.equal(await s.zadd('m:z', 2, 'b', 1, 'a'), 2);
  assert.deepEqual(await s.zrange('m:z', 0, -1), ['a', 'b']);
  assert.deepEqual(await s.mget(['m:k', 'missing']), ['v', null]);
  assert.equal(await s.del('m:k', 'm:n'), 2);
  assert.equal(await s.exists('m:k'), 0);
  assert.deepEqual(await s.pipeline([{ command: 'set', args: ['m:p', '1'] }, { command: 'incr', args: ['m:p'] }]), ['OK', 2]);
  const wrong = await s.hget('m:l', 'f').catch((e) => e);
  assert.equal(wrong.code, 'ERR_RESILIS_REPLY');
  assert.match(wrong.message, /WRONGTYPE/);
  assert.equal(await s.ping(), true);
  const health = await s.healthCheck();
  assert.equal(health.mode, 'memory');
  assert.equal(health.healthy, true);
  assert.equal(s.isConnected, false, 'isConnected is about Redis, and there is none');
});

test('TTLs expire in memory mode', async () => {
  const s = open({ enabled: false });
  await s.set('m:short', 'v', { PX: 50 });
  await new Promise((r) => setTimeout(r, 120));
  assert.equal(await s.get('m:short'), null);
});

test('memory mode: disconnect() then use rejects ERR_RESILIS_CLOSED', async () => {
  const s = open({ enabled: false });
  await s.set('m:c', '1');
  await s.disconnect();
  const err = await s.get('m:c').catch((e) => e);
  assert.equal(err.code, 'ERR_RESILIS_CLOSED');
});

test('development default: no Redis reachable -> served from memory, health says degraded', async () => {
  const port = await freePort();
  const s = open({ url: `redis://127.0.0.1:${port}`, connectTimeout: 300 });
  assert.equal(await s.set('dev:k', 'v'), 'OK');
  assert.equal(await s.get('dev:k'), 'v');
  const health = await s.healthCheck();
  assert.equal(health.status, 'degraded');
  assert.equal(health.healthy, false);
});

// With the fallback on (the default) it comes up degraded instead (start-degraded.spec.mjs).
test('enabled: true and fallback.enabled: false with no Redis reachable rejects ERR_RESILIS_CONNECTION', async () => {
  const port = await freePort();
  const s = open({ url: `redis://127.0.0.1:${port}`, connectTimeout: 300, enabled: true, fallback: { enabled: false } });
  const err = await s.get('x').catch((e) => e);
  assert.equal(err.code, 'ERR_RESILIS_CONNECTION');
});
