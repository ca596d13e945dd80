// Entry points: createRedisService, getRedisService (singleton), redisService (lazy singleton),
// RedisServiceFactory. The singletons read the environment on first use, so this file sets
// process.env in `before`, before the package is loaded or used (its own process: fresh singleton).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { loadResilis } from './harness/package.mjs';
import { uniqueKey } from './harness/util.mjs';

let redis;
let resilis;
const CONN_NAME = `resilis-entry-${process.pid}`;
const created = [];

before(async () => {
  redis = await startRedis();
  for (const k of Object.keys(process.env)) if (k.startsWith('REDIS_')) delete process.env[k];
  process.env.REDIS_URL = redis.url;
  process.env.REDIS_CONNECTION_NAME = CONN_NAME;
  resilis = loadResilis();
});

after(async () => {
  await Promise.allSettled(created.map((s) => s.disconnect()));
  try { await resilis?.getRedisService().disconnect(); } catch { /* ignore */ }
  await redis?.stop();
});

async function clientNames() {
  const out = await redis.cli('client', 'list');
  return out.split('\n').map((line) => (line.match(/ name=(\S*)/) || [])[1]).filter(Boolean);
}

test('exports the entry points', () => {
  assert.equal(typeof resilis.createRedisService, 'function');
  assert.equal(typeof resilis.getRedisService, 'function');
  assert.ok(resilis.redisService && typeof resilis.redisService === 'object', 'redisService is an object');
  assert.equal(typeof resilis.RedisServiceFactory, 'object');
  assert.equal(typeof resilis.RedisServiceFactory.create, 'function');
  assert.equal(typeof resilis.RedisServiceFactory.getInstance, 'function');
  assert.equal(typeof resilis.RedisServiceFactory.healthCheck, 'function');
  assert.equal(typeof resilis.ResilisError, 'function');
});

test('redisService works before connect() (lazy) against REDIS_URL from the environment', async () => {
  const k = uniqueKey('redisService');
  assert.equal(await resilis.redisService.set(k, 'singleton', { EX: 300 }), 'OK');
  assert.equal(await redis.cli('get', k), 'singleton');
  const ttl = Number(await redis.cli('ttl', k));
  assert.ok(ttl > 0 && ttl <= 300);
  assert.equal(await resilis.redisService.get(k), 'singleton');
  assert.equal(resilis.redisService.isConnected, true);
  assert.ok((await clientNames()).includes(CONN_NAME), 'REDIS_CONNECTION_NAME from the environment is applied');
});

test('getRedisService() returns the same instance every time, configured from the environment', async () => {
  const a = resilis.getRedisService();
  const b = resilis.getRedisService();
  assert.equal(a, b);
  const k = uniqueKey('getRedisService');
  await a.set(k, 'env-configured');
  assert.equal(await redis.cli('get', k), 'env-configured');
});

test('redisService and getRedisService() share one service (one connection state)', async () => {
  const svc = resilis.getRedisService();
  await svc.connect();
  assert.equal(resilis.redisService.isConnected, svc.isConnected);
  const k = uniqueKey('shared');
  await resilis.redisService.set(k, 'one');
  assert.equal(await svc.get(k), 'one');
});

test('createRedisService() returns new, independent instances that read the environment', async () => {
  const a = resilis.createRedisService();
  const b = resilis.createRedisService();
  created.push(a, b);
  assert.notEqual(a, b);
  assert.notEqual(a, resilis.getRedisService());
  const k = uniqueKey('create');
  await a.set(k, 'from-a');
  assert.equal(await redis.cli('get', k), 'from-a');
  await a.disconnect();
  assert.equal(a.isConnected, false);
  assert.equal(await b.get(k), 'from-a', 'disconnecting one instance leaves the other working');
  assert.equal(await resilis.getRedisService().ping(), true, 'and the singleton too');
});

test('createRedisService(options) overrides the environment', async () => {
  const name = `resilis-override-${process.pid}`;
  const s = resilis.createRedisService({ connectionName: name, db: 7 });
  created.push(s);
  const k = uniqueKey('override');
  await s.set(k, 'db7');
  assert.equal(await redis.cli('-n', '7', 'get', k), 'db7');
  assert.ok((await clientNames()).includes(name));
});

test('RedisServiceFactory.create / getInstance / healthCheck (seed 003)', async () => {
  const inst = resilis.RedisServiceFactory.getInstance();
  assert.equal(inst, resilis.RedisServiceFactory.getInstance(), 'getInstance is a singleton');
  const k = uniqueKey('factory');
  await inst.set(k, 'factory-instance', { ex: 60 });
  assert.equal(await redis.cli('get', k), 'factory-instance');
  assert.equal(await resilis.RedisServiceFactory.healthCheck(), true);

  const fresh = resilis.RedisServiceFactory.create({ url: redis.url, db: 1 });
  created.push(fresh);
  assert.notEqual(fresh, inst);
  const k2 = uniqueKey('factory-create');
  await fresh.set(k2, 'db1');
  assert.equal(await redis.cli('-n', '1', 'get', k2), 'db1');
  assert.equal(await fresh.ping(), true);
});
