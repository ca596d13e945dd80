// Lifecycle and connection options: connect, isConnected, ping, lazy connect, disconnect, quit,
// and options that must show up on the server side (connectionName, db, poolSize, password).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { loadResilis } from './harness/package.mjs';
import { uniqueKey, captureError, assertCode, eventually } from './harness/util.mjs';

let redis;
let authed;
const PASSWORD = 'Lifecycle-S3cret-pw';

before(async () => {
  redis = await startRedis();
  authed = await startRedis({ password: PASSWORD });
});

after(async () => {
  await closeServices();
  await redis?.stop();
  await authed?.stop();
});

// Names of clients connected to the server, from CLIENT LIST.
async function clientNames(server) {
  const out = await server.cli('client', 'list');
  return out.split('\n').map((line) => (line.match(/ name=(\S*)/) || [])[1]).filter(Boolean);
}

test('connect(), isConnected, ping() against a live server', async () => {
  const svc = openService(redis);
  await svc.connect();
  assert.equal(svc.isConnected, true);
  assert.equal(await svc.ping(), true);
});

test('a command before connect() connects lazily and reaches Redis', async () => {
  const svc = openService(redis);
  const k = uniqueKey('lazy');
  assert.equal(await svc.set(k, 'lazy-value'), 'OK');
  assert.equal(await redis.cli('get', k), 'lazy-value');
  assert.equal(svc.isConnected, true);
  await redis.cli('set', `${k}:2`, 'back');
  const svc2 = openService(redis);
  assert.equal(await svc2.get(`${k}:2`), 'back');
});

test('lazyConnect: true does not connect until first use', async () => {
  const name = uniqueKey('lazyname').replace(/:/g, '-');
  const svc = openService(redis, { lazyConnect: true, connectionName: name });
  assert.equal(svc.isConnected, false);
  assert.ok(!(await clientNames(redis)).includes(name), 'no connection before first use');
  const k = uniqueKey('lazy2');
  await svc.set(k, 'x');
  assert.equal(await redis.cli('get', k), 'x');
  assert.ok((await clientNames(redis)).includes(name), 'connected after first use');
});

test('disconnect() closes the connections server-side; later use rejects ERR_RESILIS_CLOSED', async () => {
  const name = uniqueKey('disc').replace(/:/g, '-');
  const svc = openService(redis, { connectionName: name });
  await svc.connect();
  assert.ok((await clientNames(redis)).includes(name));
  await svc.disconnect();
  assert.equal(svc.isConnected, false);
  const gone = await eventually(async () => !(await clientNames(redis)).includes(name));
  assert.ok(gone, 'connection should be gone from CLIENT LIST');
  const k = uniqueKey('after-disc');
  const err = await captureError(() => svc.set(k, 'x'), 'set after disconnect');
  assertCode(err, 'ERR_RESILIS_CLOSED');
  assert.equal(await redis.cli('exists', k), '0', 'nothing written after disconnect');
  const err2 = await captureError(() => svc.get(k), 'get after disconnect');
  assertCode(err2, 'ERR_RESILIS_CLOSED');
});

test('quit() resolves and leaves the service disconnected', async () => {
  const svc = openService(redis);
  await svc.connect();
  await svc.quit();
  assert.equal(svc.isConnected, false);
});

test('disconnect() twice does not throw', async () => {
  const svc = openService(redis);
  await svc.connect();
  await svc.disconnect();
  await svc.disconnect();
});

test('connectionName is set on every connection; poolSize pooled ones plus the fast lane', async () => {
  const name = uniqueKey('pool').replace(/:/g, '-');
  const svc = openService(redis, { connectionName: name, poolSize: 3 });
  await svc.connect();
  const named = (await clientNames(redis)).filter((n) => n === name);
  assert.equal(named.length, 4, `expected 3 pooled + 1 lane connections named ${name}, CLIENT LIST has ${named.length}`);
});

test('db option selects the database', async () => {
  const svc = openService(redis, { db: 3 });
  const k = uniqueKey('db3');
  await svc.set(k, 'in-db-3');
  assert.equal(await redis.cli('-n', '3', 'get', k), 'in-db-3');
  assert.equal(await redis.cli('-n', '0', 'exists', k), '0');
});

test('database index in the URL path selects the database', async () => {
  const svc = openService(redis, { url: `${redis.url}/5` });
  const k = uniqueKey('db5');
  await svc.set(k, 'in-db-5');
  assert.equal(await redis.cli('-n', '5', 'get', k), 'in-db-5');
});

test('host + port options (no url) connect to that server', async () => {
  const { createRedisService } = loadResilis();
  const svc = createRedisService({ host: '127.0.0.1', port: redis.port });
  try {
    const k = uniqueKey('hostport');
    await svc.set(k, 'hp');
    assert.equal(await redis.cli('get', k), 'hp');
  } finally {
    await svc.disconnect();
  }
});

test('password option authenticates against a requirepass server', async () => {
  const svc = openService(authed, { password: PASSWORD });
  const k = uniqueKey('auth');
  await svc.set(k, 'secret-ok');
  assert.equal(await authed.cli('get', k), 'secret-ok');
});

test('password in the URL authenticates', async () => {
  const svc = openService(authed, { url: `redis://:${PASSWORD}@127.0.0.1:${authed.port}` });
  const k = uniqueKey('auth-url');
  await svc.set(k, 'url-ok');
  assert.equal(await authed.cli('get', k), 'url-ok');
});

test('a wrong password rejects connect() without leaking the password', async () => {
  const wrong = 'Wr0ng-Passw0rd-xyz';
  const svc = openService(authed, { password: wrong, connectTimeout: 2000, maxRetries: 0 });
  const err = await captureError(() => svc.connect(), 'connect with a wrong password');
  assert.ok(err instanceof Error);
  assert.ok(['ERR_RESILIS_CONFIG', 'ERR_RESILIS_CONNECTION', 'ERR_RESILIS_REPLY'].includes(err.code), `code ${err.code}: ${err.message}`);
  assert.ok(!err.message.includes(wrong), `message leaks the password: ${err.message}`);
  assert.ok(!String(err.stack).includes(wrong), 'stack leaks the password');
});
