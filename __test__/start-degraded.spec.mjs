// Starting during an outage (issue 16 part 4): in production (no development memory mode), a service whose
// Redis is not there at the first connect comes up degraded, serves and journals from the fallback, and recovers
// on its own when Redis appears; `fallback.enabled: false` and a wrong password stay hard errors at connect.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually, settleWithin } from './harness/util.mjs';

const servers = [];
after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
});

// `enabled: true` is production behaviour (no fallback to the development memory mode).
const PROD = { enabled: true, commandTimeout: 1000, connectTimeout: 1000, reconnect: { minDelay: 20, maxDelay: 200 } };

test('production start while Redis is down: connect() resolves, healthCheck says degraded, writes are journalled, and the service recovers by itself when Redis appears', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  await redis.kill('SIGKILL'); // its port is now free, nothing listens
  const svc = openService(redis, PROD);
  svc.on('error', () => {});
  await settleWithin(svc.connect(), 3000, 'connect()');
  const health = await svc.healthCheck();
  assert.equal(health.status, 'degraded', JSON.stringify(health));
  assert.equal(svc.isConnected, false);
  const key = uniqueKey('start-down');
  const counter = uniqueKey('start-down-n');
  assert.equal(await settleWithin(svc.set(key, 'written while down'), 2000, 'set'), 'OK');
  assert.equal(await settleWithin(svc.incr(counter), 2000, 'incr'), 1);
  assert.equal(await svc.get(key), 'written while down');
  assert.equal((await svc.getStats()).replay.journaled, 2);

  await redis.restart();
  assert.ok(await eventually(async () => {
    const s = await svc.getStats();
    return !s.degraded && s.replay.pending === 0 && svc.isConnected;
  }, 15000, 50), 'no recovery after Redis appeared');
  assert.equal(await redis.cli('get', key), 'written while down');
  assert.equal(await redis.cli('get', counter), '1');
  assert.equal((await svc.healthCheck()).status, 'connected');
  assert.equal(await svc.incr(counter), 2);
});

test('production start while Redis is down, first call before connect() (lazy): served from the fallback at once', { timeout: 30000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  await redis.kill('SIGKILL');
  const svc = openService(redis, PROD);
  svc.on('error', () => {});
  const started = Date.now();
  assert.equal(await settleWithin(svc.set(uniqueKey('lazy'), 'v'), 2000, 'set'), 'OK');
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  assert.equal((await svc.healthCheck()).status, 'degraded');
});

test('fallback.enabled: false keeps a start without Redis a hard error', { timeout: 30000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  await redis.kill('SIGKILL');
  const svc = openService(redis, { ...PROD, fallback: { enabled: false } });
  svc.on('error', () => {});
  const err = await settleWithin(svc.connect(), 3000, 'connect()').then(() => null, (e) => e);
  assert.equal(err?.code, 'ERR_RESILIS_CONNECTION', err?.message);
});

test('a wrong password at start stays a hard error (not degraded)', { timeout: 30000 }, async () => {
  const redis = await startRedis({ password: 'right-one' });
  servers.push(redis);
  const svc = openService({ url: `redis://:wrong-one@127.0.0.1:${redis.port}` }, PROD);
  svc.on('error', () => {});
  const err = await settleWithin(svc.connect(), 5000, 'connect()').then(() => null, (e) => e);
  assert.equal(err?.code, 'ERR_RESILIS_CONFIG', err?.message);
  assert.doesNotMatch(err.message, /wrong-one/);
  assert.equal((await svc.getStats()).degraded, false);
});
