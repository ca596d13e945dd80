// The per-file setup most specs share: one standalone redis-server and one service on it, started in
// node:test `before` and stopped in `after`. Call at the top level of a spec; the tests read the
// returned context, filled in by `before`: ctx.redis, ctx.svc, ctx.resilis (and ctx.cache).
import { before, after } from 'node:test';
import { startRedis } from './redis.mjs';
import { openService, closeServices } from './service.mjs';
import { openCache } from './cache.mjs';
import { loadResilis } from './package.mjs';

// `connect: false` leaves svc unconnected (it connects on first use); `setup(ctx)` runs last in
// `before` (spec fixtures, e.g. ctx.raw), `teardown(ctx)` first in `after`, before closeServices().
function useSuite(open, { connect = true, setup, teardown } = {}) {
  const ctx = {};
  before(async () => {
    ctx.redis = await startRedis();
    Object.assign(ctx, open(ctx.redis));
    if (connect) await ctx.svc.connect();
    await setup?.(ctx);
  });
  after(async () => {
    await teardown?.(ctx);
    await closeServices();
    await ctx.redis?.stop();
  });
  return ctx;
}

// ctx: { redis, resilis, svc }; `options` go to openService().
export function useService({ options, ...hooks } = {}) {
  return useSuite((redis) => ({ resilis: loadResilis(), svc: openService(redis, options) }), hooks);
}

// ctx: { redis, resilis, svc, cache }: a RedisCacheService over svc; `options` go to openCache().
export function useCache({ options, ...hooks } = {}) {
  return useSuite((redis) => openCache(redis, options), hooks);
}
