// Error contract: every failure is an Error with a stable code, nothing crashes the process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort } from './harness/ports.mjs';
import { openService, remember } from './harness/service.mjs';
import { useService } from './harness/suite.mjs';
import { uniqueKey, captureError, assertCode, settleWithin } from './harness/util.mjs';

const ctx = useService();

test('ResilisError is exported as a class', () => {
  assert.equal(typeof ctx.resilis.ResilisError, 'function');
  assert.ok(ctx.resilis.ResilisError.prototype instanceof Error, 'ResilisError extends Error');
});

const badValues = [
  ['an object', { a: 1 }],
  ['an array of objects', [{}]],
  ['undefined', undefined],
  ['a symbol', Symbol('s')],
  ['a function', () => 1],
];

for (const [label, value] of badValues) {
  test(`set with ${label} as value -> TypeError ERR_RESILIS_ARGUMENT, nothing written`, async () => {
    const k = uniqueKey('badval');
    const err = await captureError(() => ctx.svc.set(k, value), `set(${label})`);
    assertCode(err, 'ERR_RESILIS_ARGUMENT', { type: TypeError });
    assert.equal(await ctx.redis.cli('exists', k), '0');
  });
}

test('wrong key types -> TypeError ERR_RESILIS_ARGUMENT', async () => {
  for (const key of [undefined, {}, Symbol('k'), () => 'k']) {
    const err = await captureError(() => ctx.svc.get(key), `get(${String(typeof key)})`);
    assertCode(err, 'ERR_RESILIS_ARGUMENT', { type: TypeError });
  }
});

test('wrong argument types in other groups -> TypeError ERR_RESILIS_ARGUMENT', async () => {
  const k = uniqueKey('badargs');
  const cases = [
    ['hset field value object', () => ctx.svc.hset(k, 'f', { nested: true })],
    ['lpush object', () => ctx.svc.lpush(k, {})],
    ['sadd undefined', () => ctx.svc.sadd(k, undefined)],
    ['expire with an object', () => ctx.svc.expire(k, {})],
    ['incrBy with an object', () => ctx.svc.incrBy(k, {})],
    ['mget with an object key', () => ctx.svc.mget([{}])],
    ['mset with an object value', () => ctx.svc.mset({ [k]: { deep: 1 } })],
    ['call with an object arg', () => ctx.svc.call('SET', k, {})],
    ['pipeline with a non-array', () => ctx.svc.pipeline('set x y')],
  ];
  for (const [label, fn] of cases) {
    const err = await captureError(fn, label);
    assertCode(err, 'ERR_RESILIS_ARGUMENT', { type: TypeError });
  }
  assert.equal(await ctx.redis.cli('exists', k), '0');
});

test('the service still works after argument errors', async () => {
  await captureError(() => ctx.svc.set(uniqueKey('x'), {}), 'set object');
  const k = uniqueKey('still-ok');
  assert.equal(await ctx.svc.set(k, 'ok'), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'ok');
});

test('WRONGTYPE reply -> ERR_RESILIS_REPLY keeping the reply text', async () => {
  const k = uniqueKey('wrongtype');
  await ctx.redis.cli('rpush', k, 'a');
  const err = await captureError(() => ctx.svc.get(k), 'get on a list');
  assertCode(err, 'ERR_RESILIS_REPLY');
  assert.match(err.message, /WRONGTYPE/);
  assert.ok(err instanceof ctx.resilis.ResilisError, 'reply errors are ResilisError instances');
  const err2 = await captureError(() => ctx.svc.hset(k, 'f', 'v'), 'hset on a list');
  assertCode(err2, 'ERR_RESILIS_REPLY');
  assert.match(err2.message, /WRONGTYPE/);
  assert.equal(await ctx.redis.cli('type', k), 'list', 'the list is untouched');
  assert.equal(await ctx.svc.ping(), true);
});

test('_debugPanic() rejects with ERR_RESILIS_INTERNAL and the process lives on', async () => {
  const err = await captureError(() => ctx.svc._debugPanic(), '_debugPanic');
  assertCode(err, 'ERR_RESILIS_INTERNAL');
  // still alive and the same service still talks to Redis
  const k = uniqueKey('after-panic');
  assert.equal(await ctx.svc.set(k, 'alive'), 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'alive');
  const err2 = await captureError(() => ctx.svc._debugPanic(), 'second _debugPanic');
  assertCode(err2, 'ERR_RESILIS_INTERNAL');
  assert.equal(await ctx.svc.ping(), true);
});

// Without `fallback.enabled: false` such a service comes up degraded instead (start-degraded.spec.mjs).
test('connect() to a port where nothing listens, fallback off, rejects ERR_RESILIS_CONNECTION', { timeout: 30000 }, async () => {
  const port = await freePort();
  const dead = remember(ctx.resilis.createRedisService({
    host: '127.0.0.1', port, connectTimeout: 500, maxRetries: 0, enabled: true, fallback: { enabled: false },
  }));
  const err = await captureError(() => settleWithin(dead.connect(), 20000, 'connect()'), 'connect to a dead port');
  assertCode(err, 'ERR_RESILIS_CONNECTION');
  assert.equal(dead.isConnected, false);
});

test('command timeout on a stalled server rejects ERR_RESILIS_TIMEOUT', { timeout: 30000 }, async () => {
  const slow = openService(ctx.redis, { commandTimeout: 200, maxRetries: 0 });
  await slow.connect();
  const err = await captureError(() => settleWithin(slow.call('DEBUG', 'SLEEP', '1.5'), 20000, 'DEBUG SLEEP'), 'DEBUG SLEEP');
  assertCode(err, 'ERR_RESILIS_TIMEOUT');
});

test('malformed options -> ERR_RESILIS_CONFIG naming the option', async () => {
  const cases = [
    [{ port: 'abc' }, /port/],
    [{ poolSize: -1 }, /poolSize/],
    [{ url: 'not a url at all' }, /url/],
    [{ connectTimeout: -5 }, /connectTimeout/],
  ];
  for (const [options, names] of cases) {
    const err = await captureError(async () => {
      const s = remember(ctx.resilis.createRedisService(options));
      await settleWithin(s.connect(), 20000, 'connect()');
    }, `createRedisService(${JSON.stringify(options)})`);
    assertCode(err, 'ERR_RESILIS_CONFIG');
    assert.match(err.message, names);
  }
});

test('a password inside a malformed url option is not in the error', async () => {
  const secret = 'Opt10n-Pa55word-zz';
  const err = await captureError(async () => {
    const s = remember(ctx.resilis.createRedisService({ url: `redis://admin:${secret}@127.0.0.1:notaport/0` }));
    await settleWithin(s.connect(), 20000, 'connect()');
  }, 'malformed url with password');
  assertCode(err, 'ERR_RESILIS_CONFIG');
  assert.ok(!err.message.includes(secret), `message leaks the password: ${err.message}`);
  assert.ok(!String(err.stack).includes(secret), 'stack leaks the password');
});

test('the native submit function refuses a malformed batch with a coded Error, and the service goes on', async () => {
  // lib/dispatcher.js is its only caller; a bad call must throw, never crash.
  const submit = ctx.svc._native.submitFunction();
  const calls = [
    () => submit('GETk', [7, 0, 2, 3, 1], 5),
    () => submit('GETk', new Uint32Array([7, 0, 2, 3, 1]), 'five'),
    () => submit('GETk', new Uint32Array([7, 0, 2, 3, 1]), 5, 'not an array'),
    () => submit(),
  ];
  for (const call of calls) {
    assert.throws(call, (err) => err instanceof Error && err.code === 'ERR_RESILIS_INTERNAL' && /submit: /.test(err.message));
  }
  const key = uniqueKey('after-bad-submit');
  assert.equal(await ctx.svc.set(key, 'v'), 'OK');
  assert.equal(await ctx.svc.get(key), 'v');
});
