// The service's ioredis 5 surface that libraries rely on (issue 17, part 2): defineCommand
// (EVALSHA, EVAL once on NOSCRIPT), duplicate(), status, options, scanStream, the *Buffer
// variants and call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useService } from './harness/suite.mjs';
import { openService, openServiceFromEnv } from './harness/service.mjs';
import { uniqueKey, captureError, assertCode, eventually } from './harness/util.mjs';

const ctx = useService();

const INCR_TTL = `local v = redis.call('incrby', KEYS[1], ARGV[1])
if redis.call('pttl', KEYS[1]) == -1 then redis.call('pexpire', KEYS[1], ARGV[2]) end
return {v, redis.call('pttl', KEYS[1])}`;

async function commandStats(name) {
  const line = (await ctx.redis.cli('info', 'commandstats')).split('\n').find((l) => l.startsWith(`cmdstat_${name}:`));
  return line ? Number(/calls=(\d+)/.exec(line)[1]) : 0;
}

test('defineCommand: service[name](keys..., args...) runs by EVALSHA; NOSCRIPT sends it once with EVAL', async () => {
  ctx.svc.defineCommand('incrWithTtl', { numberOfKeys: 1, lua: INCR_TTL });
  const k = uniqueKey('defined');
  await ctx.redis.cli('script', 'flush');
  await ctx.redis.cli('config', 'resetstat');
  const [v1, ttl1] = await ctx.svc.incrWithTtl(k, 2, 60000);
  assert.equal(v1, 2);
  assert.ok(ttl1 > 50000 && ttl1 <= 60000, `pttl ${ttl1}`);
  assert.deepEqual([await commandStats('evalsha'), await commandStats('eval')], [1, 1], 'NOSCRIPT, then EVAL once');
  // Arrays are flattened one level, as ioredis does (rate-limiter-flexible passes one array).
  const [v2] = await ctx.svc.incrWithTtl([k, '3', '60000']);
  assert.equal(v2, 5);
  assert.deepEqual([await commandStats('evalsha'), await commandStats('eval')], [2, 1], 'loaded: EVALSHA only');
  const [buf] = await ctx.svc.incrWithTtlBuffer(k, 1, 60000);
  assert.equal(buf, 6);
  ctx.svc.defineCommand('echoBuffer', { numberOfKeys: 0, lua: 'return ARGV[1]' });
  assert.deepEqual(await ctx.svc.echoBufferBuffer('bytes'), Buffer.from('bytes'));
  assert.equal(await ctx.svc.echoBuffer('text'), 'text');
});

test('defineCommand without numberOfKeys: the first argument is the number of keys', async () => {
  ctx.svc.defineCommand('keysAndArgs', { lua: 'return {#KEYS, #ARGV}' });
  assert.deepEqual(await ctx.svc.keysAndArgs(2, 'a', 'b', 'c'), [2, 1]);
  assertCode(await captureError(() => ctx.svc.keysAndArgs(3, 'a')), 'ERR_RESILIS_ARGUMENT');
  assert.throws(() => ctx.svc.defineCommand('bad', { numberOfKeys: 1 }), { code: 'ERR_RESILIS_ARGUMENT' });
});

test('defineCommand: a script error rejects with the server error, run once', async () => {
  ctx.svc.defineCommand('fails', { numberOfKeys: 0, lua: "return redis.error_reply('ERR nope')" });
  await ctx.redis.cli('config', 'resetstat');
  const err = await captureError(() => ctx.svc.fails());
  assert.match(err.message, /nope/);
  assert.ok(await commandStats('evalsha') + await commandStats('eval') <= 2);
});

test('options and duplicate(): same configuration, its own connection, overrides on top', async () => {
  assert.equal(ctx.svc.options.url, ctx.redis.url);
  const dup = ctx.svc.duplicate({ connectionName: 'resilis-dup' });
  assert.equal(dup.options.url, ctx.redis.url);
  assert.equal(dup.options.connectionName, 'resilis-dup');
  await dup.connect();
  const k = uniqueKey('dup');
  await dup.set(k, 'v');
  assert.equal(await ctx.svc.get(k), 'v');
  assert.match(await ctx.redis.cli('client', 'list'), /name=resilis-dup/);
  await dup.quit();
  assert.equal(dup.status, 'end');
  assert.equal(await ctx.svc.get(k), 'v', 'the original keeps its connections');
});

test('duplicate() of a service configured by the environment reaches the same server', async () => {
  const svc = openServiceFromEnv({ REDIS_URL: ctx.redis.url, REDIS_ENABLED: 'true' });
  const k = uniqueKey('env-dup');
  await ctx.redis.cli('set', k, 'here');
  const dup = svc.duplicate();
  assert.equal(await dup.get(k), 'here');
  await dup.quit();
});

test("status: 'wait' before a lazy service is used, 'ready' once connected, 'end' after quit()", async () => {
  const svc = openService(ctx.redis, { lazyConnect: true });
  assert.equal(svc.status, 'wait');
  await svc.ping();
  assert.equal(svc.status, 'ready');
  await svc.quit();
  assert.equal(svc.status, 'end');
});

test("status: 'reconnecting' while the server is down, 'ready' again after", async () => {
  const { startRedis } = await import('./harness/redis.mjs');
  const server = await startRedis();
  const svc = openService(server, { commandTimeout: 500 });
  await svc.connect();
  assert.equal(svc.status, 'ready');
  await server.kill();
  await svc.get('k').catch(() => {});
  assert.equal(await eventually(() => svc.status === 'reconnecting', 10000), true, `status ${svc.status}`);
  await server.restart();
  assert.equal(await eventually(async () => (await svc.ping()) && svc.status === 'ready', 15000), true, `status ${svc.status}`);
  await svc.quit();
  await server.stop();
});

test('scanStream({ match, count }): a Readable of key arrays', async () => {
  const prefix = uniqueKey('stream');
  for (let i = 0; i < 25; i++) await ctx.redis.cli('set', `${prefix}:${i}`, 'v');
  const seen = new Set();
  let batches = 0;
  for await (const keys of ctx.svc.scanStream({ match: `${prefix}:*`, count: 5 })) {
    assert.ok(Array.isArray(keys));
    batches++;
    for (const k of keys) seen.add(k);
  }
  assert.equal(seen.size, 25);
  assert.ok(batches > 1);
});

test("isCluster is false and nodes is undefined off a cluster, as on ioredis' Redis (libraries test for them)", () => {
  assert.equal(ctx.svc.isCluster, false);
  assert.equal(typeof ctx.svc.nodes, 'undefined');
});

test('getBuffer, hgetallBuffer, callBuffer and call', async () => {
  const [k, h] = [uniqueKey('buf'), uniqueKey('buf-h')];
  const bytes = Buffer.from([0, 255, 1, 254]);
  await ctx.svc.set(k, bytes);
  assert.deepEqual(await ctx.svc.getBuffer(k), bytes);
  await ctx.svc.hset(h, { f: bytes, g: 'text' });
  assert.deepEqual(await ctx.svc.hgetallBuffer(h), { f: bytes, g: Buffer.from('text') });
  assert.deepEqual(await ctx.svc.callBuffer('GET', k), bytes);
  assert.equal(await ctx.svc.call('HGET', h, 'g'), 'text');
});

test('defineCommand: multi() and pipeline() offer the command too; the script is loaded before the batch', async () => {
  ctx.svc.defineCommand('incrTwice', { numberOfKeys: 1, lua: "redis.call('incr', KEYS[1]); return redis.call('incr', KEYS[1])" });
  const k = uniqueKey('defined-multi');
  await ctx.redis.cli('script', 'flush');
  assert.deepEqual(await ctx.svc.multi().incrTwice(k).get(k).exec(), [[null, 2], [null, '2']]);
  assert.deepEqual(await ctx.svc.pipeline().incrTwice([k]).exec(), [[null, 4]]);
  assert.deepEqual(await ctx.svc.getClient().multi().incrTwice(k).exec(), [6]);
});

test("status: memory mode by choice (enabled: false) is 'ready' (every command is served), 'end' after quit()", async () => {
  const svc = openService(ctx.redis, { enabled: false });
  assert.equal(svc.status, 'ready');
  await svc.set(uniqueKey('memory'), 'v');
  assert.equal(svc.status, 'ready');
  await svc.quit();
  assert.equal(svc.status, 'end');
});
