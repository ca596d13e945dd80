// rate-limiter-flexible 11's RateLimiterRedis on resilis, against a real server, in both of its
// modes: ioredis (storeClient: the service; its Lua script through defineCommand) and node-redis
// (storeClient: getClient(), useRedisPackage: true; eval with { keys, arguments } and
// multi().get().pTTL().exec(true)), on a standalone server and a cluster. Plus its insuranceLimiter
// while Redis is down.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startRedis } from './harness/redis.mjs';
import { openService } from './harness/service.mjs';
import { onEachDeployment } from './harness/deployments.mjs';
import { uniqueKey, captureError } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const { RateLimiterRedis, RateLimiterMemory, RateLimiterRes } = require('rate-limiter-flexible');

const MODES = [
  { name: 'ioredis mode (storeClient: service)', options: (svc) => ({ storeClient: svc }) },
  { name: 'node-redis mode (storeClient: getClient(), useRedisPackage)', options: (svc) => ({ storeClient: svc.getClient(), useRedisPackage: true }) },
];


/** A rejection of consume(): a RateLimiterRes, not an Error. */
async function rejection(promise) {
  const res = await captureError(() => promise, 'consume over the limit');
  assert.ok(res instanceof RateLimiterRes, `rejects with a RateLimiterRes, got ${res && res.stack}`);
  return res;
}

onEachDeployment((d) => {
  for (const mode of MODES) {
    describe(mode.name, () => {
      const limiter = (extra = {}) => new RateLimiterRedis({ ...mode.options(d.svc), keyPrefix: uniqueKey('rlflx'), points: 3, duration: 10, ...extra });

      test('consume up to the limit; the next consume rejects with msBeforeNext; the key has a TTL', async () => {
        const rl = limiter();
        const remaining = [];
        for (let i = 0; i < 3; i++) remaining.push((await rl.consume('user-1')).remainingPoints);
        assert.deepEqual(remaining, [2, 1, 0]);
        const res = await rejection(rl.consume('user-1'));
        assert.equal(res.remainingPoints, 0);
        assert.ok(res.msBeforeNext > 0 && res.msBeforeNext <= 10_000, `msBeforeNext ${res.msBeforeNext}`);
        const pttl = Number(await d.cli(`${rl.keyPrefix}:user-1`, 'pttl', `${rl.keyPrefix}:user-1`));
        assert.ok(pttl > 0 && pttl <= 10_000, `PTTL ${pttl}`);
        assert.equal((await rl.consume('user-2')).remainingPoints, 2, 'another key has its own budget');
      });

      test('rejectIfRedisNotReady reads the ioredis status: served while ready', async () => {
        const rl = limiter({ rejectIfRedisNotReady: true });
        assert.equal(d.svc.status, 'ready');
        assert.equal((await rl.consume('user-1')).remainingPoints, 2);
      });

      test('get, delete', async () => {
        const rl = limiter();
        assert.equal(await rl.get('nobody'), null);
        await rl.consume('user-1', 2);
        const got = await rl.get('user-1');
        assert.equal(got.consumedPoints, 2);
        assert.equal(got.remainingPoints, 1);
        assert.ok(got.msBeforeNext > 0 && got.msBeforeNext <= 10_000, `msBeforeNext ${got.msBeforeNext}`);
        assert.equal(await rl.delete('user-1'), true);
        assert.equal(await rl.get('user-1'), null);
        assert.equal(await rl.delete('user-1'), false);
      });

      test('penalty adds points; block holds the key for the given seconds', async () => {
        const rl = limiter();
        await rl.consume('user-1');
        const penalised = await rl.penalty('user-1', 2);
        assert.equal(penalised.consumedPoints, 3);
        await rejection(rl.consume('user-1'));
        const blocked = await rl.block('user-2', 30);
        assert.ok(blocked.msBeforeNext > 25_000 && blocked.msBeforeNext <= 30_000, `msBeforeNext ${blocked.msBeforeNext}`);
        const res = await rejection(rl.consume('user-2'));
        assert.ok(res.msBeforeNext > 25_000, `blocked for about 30 s, msBeforeNext ${res.msBeforeNext}`);
        const ttl = Number(await d.cli(`${rl.keyPrefix}:user-2`, 'ttl', `${rl.keyPrefix}:user-2`));
        assert.ok(ttl > 25 && ttl <= 30, `TTL ${ttl}`);
      });

      test('a duration of 0 (never expires) takes the multi().incrBy().pTTL() path', async () => {
        const rl = limiter({ duration: 0 });
        assert.equal((await rl.consume('user-1')).remainingPoints, 2);
        assert.equal((await rl.consume('user-1', 2)).remainingPoints, 0);
        const res = await rejection(rl.consume('user-1'));
        assert.equal(res.msBeforeNext, -1);
        assert.equal(await d.cli(`${rl.keyPrefix}:user-1`, 'ttl', `${rl.keyPrefix}:user-1`), '-1');
      });

      test('insuranceLimiter takes over while Redis is down', { skip: d.name === 'cluster' && 'a standalone server of its own is stopped' }, async () => {
        const server = await startRedis();
        const own = openService(server, { commandTimeout: 500, connectTimeout: 500 });
        await own.connect();
        const rl = new RateLimiterRedis({
          ...mode.options(own),
          keyPrefix: uniqueKey('rlflx-insured'),
          points: 3,
          duration: 10,
          insuranceLimiter: new RateLimiterMemory({ points: 1, duration: 10 }),
        });
        assert.equal((await rl.consume('user-1')).remainingPoints, 2, 'Redis answers while it is up');
        await server.kill();
        const insured = await rl.consume('user-1');
        assert.equal(insured.remainingPoints, 0, 'the in-memory insurance limiter (1 point) answered');
        await rejection(rl.consume('user-1'));
        await server.stop();
      });
    });
  }
});
