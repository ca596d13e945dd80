// Express middleware with a real express app on a free port, fetched with global fetch:
// the route cache (entries read back from Redis), the health routes, the rate limit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { startRedis } from './harness/redis.mjs';
import { remember } from './harness/service.mjs';
import { useCache } from './harness/suite.mjs';
import { freePort } from './harness/ports.mjs';
import { setTimeout as sleep } from 'node:timers/promises';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const express = require('express');

const servers = [];
const ctx = useCache({ teardown: () => { for (const s of servers) s.close(); } });

/** Listens on a free port; resolves the base URL. */
async function listen(app) {
  const port = await freePort();
  await new Promise((resolve) => servers.push(app.listen(port, '127.0.0.1', resolve)));
  return `http://127.0.0.1:${port}`;
}

async function redisKeys(pattern) {
  const out = await ctx.redis.cli('--scan', '--pattern', pattern);
  return out ? out.split('\n').sort() : [];
}

test('cache(): a GET is served by the handler once, then from Redis with status, headers and body', async () => {
  const prefix = uniqueKey('route');
  let handled = 0;
  const mw = ctx.resilis.cacheMiddleware({ ttlSeconds: 120, keyPrefix: prefix, service: ctx.svc });
  const app = express();
  app.get('/api/products', mw, (req, res) => {
    handled++;
    res.set('X-Custom', 'yes').status(201).json({ products: ['a', 'b'], n: handled });
  });
  const base = await listen(app);

  const r1 = await fetch(`${base}/api/products`);
  assert.equal(r1.status, 201);
  assert.equal(r1.headers.get('x-cache'), 'MISS');
  assert.deepEqual(await r1.json(), { products: ['a', 'b'], n: 1 });

  // the entry is in Redis with the TTL
  const key = `${prefix}:/api/products`;
  let stored;
  for (let i = 0; i < 50 && !stored; i++) {
    stored = await ctx.redis.cli('get', key);
    if (!stored) await new Promise((r) => setTimeout(r, 20));
  }
  const entry = JSON.parse(stored);
  assert.equal(entry.status, 201);
  assert.equal(entry.headers['x-custom'], 'yes');
  assert.deepEqual(JSON.parse(Buffer.from(entry.body, 'base64').toString()), { products: ['a', 'b'], n: 1 });
  const ttl = Number(await ctx.redis.cli('ttl', key));
  assert.ok(ttl > 100 && ttl <= 120, `ttl ${ttl}`);

  const r2 = await fetch(`${base}/api/products`);
  assert.equal(r2.status, 201);
  assert.equal(r2.headers.get('x-cache'), 'HIT');
  assert.equal(r2.headers.get('x-custom'), 'yes');
  assert.match(r2.headers.get('content-type'), /application\/json/);
  assert.deepEqual(await r2.json(), { products: ['a', 'b'], n: 1 });
  assert.equal(handled, 1);
  assert.deepEqual(mw.getStats(), { hits: 1, misses: 1, errors: 0, hitRate: 0.5 });

  // what the middleware serves is what Redis holds: change it there, the response follows
  entry.body = Buffer.from('{"changed":true}').toString('base64');
  entry.headers['content-length'] = '16';
  await ctx.redis.cli('set', key, JSON.stringify(entry));
  assert.deepEqual(await (await fetch(`${base}/api/products`)).json(), { changed: true });
});

test('cache(): query params, user and headers make separate entries; invalidateRoute drops them all', async () => {
  const prefix = uniqueKey('vary');
  const mw = ctx.resilis.cacheMiddleware({ ttlSeconds: 60, keyPrefix: prefix, includeQueryParams: true, varyByUser: true, varyByHeaders: ['X-Tenant'], service: ctx.svc });
  let handled = 0;
  const app = express();
  app.use((req, _res, next) => { if (req.headers['x-user']) req.user = { id: req.headers['x-user'] }; next(); });
  app.get('/items', mw, (req, res) => { handled++; res.send(`items ${req.query.page ?? 1} for ${req.user?.id ?? 'anon'}`); });
  app.get('/items/:id', mw, (req, res) => { handled++; res.send(`item ${req.params.id}`); });
  const base = await listen(app);

  const get = async (path, headers = {}) => (await fetch(base + path, { headers })).text();
  assert.equal(await get('/items?page=2&sort=x'), 'items 2 for anon');
  assert.equal(await get('/items?sort=x&page=2'), 'items 2 for anon', 'query order does not matter');
  assert.equal(await get('/items?page=3'), 'items 3 for anon');
  assert.equal(await get('/items?page=2&sort=x', { 'x-user': 'alice' }), 'items 2 for alice');
  assert.equal(await get('/items?page=2&sort=x', { 'x-user': 'alice', 'x-tenant': 'fr' }), 'items 2 for alice');
  assert.equal(await get('/items/9'), 'item 9');
  assert.equal(handled, 5);
  await new Promise((r) => setTimeout(r, 50));
  const all = await redisKeys(`${prefix}:*`);
  assert.equal(all.length, 5, all.join('\n'));
  assert.ok(all.includes(`${prefix}:/items|q=page=2&sort=x|u=anonymous|h:x-tenant=`));
  assert.ok(all.includes(`${prefix}:/items|q=page=2&sort=x|u=alice|h:x-tenant=fr`));

  assert.equal(await mw.invalidateRoute('/items'), 4);
  assert.deepEqual(await redisKeys(`${prefix}:*`), [`${prefix}:/items/9|u=anonymous|h:x-tenant=`]);
  assert.equal(await get('/items?page=3'), 'items 3 for anon');
  assert.equal(handled, 6, 'served by the handler again after invalidation');
});

test('cache(): only GET 2xx without Set-Cookie / no-store is cached', async () => {
  const prefix = uniqueKey('nocache');
  const mw = ctx.resilis.cacheMiddleware({ ttlSeconds: 60, keyPrefix: prefix, service: ctx.svc });
  const app = express();
  app.use(express.json());
  app.get('/missing', mw, (req, res) => res.status(404).send('no'));
  app.get('/cookie', mw, (req, res) => res.cookie('sid', 'secret').send('personal'));
  app.get('/private', mw, (req, res) => res.set('Cache-Control', 'private').send('mine'));
  app.post('/post', mw, (req, res) => res.send('posted'));
  const base = await listen(app);
  for (const p of ['/missing', '/cookie', '/private']) await (await fetch(base + p)).text();
  await (await fetch(`${base}/post`, { method: 'POST' })).text();
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(await redisKeys(`${prefix}:*`), []);
});

test('CacheMiddleware class (seed 004) and warm(): entries stored directly, or fetched from the app', async () => {
  const prefix = uniqueKey('warm');
  const cm = new ctx.resilis.CacheMiddleware(ctx.cache);
  let handled = 0;
  const app = express();
  app.get('/api/stats', cm.cache({ ttlSeconds: 300, keyPrefix: prefix }), (req, res) => { handled++; res.json({ live: true }); });
  app.get('/api/fetched', cm.cache({ ttlSeconds: 300, keyPrefix: prefix }), (req, res) => { handled++; res.json({ fetched: true }); });
  const base = await listen(app);

  assert.equal(await cm.warm([{ path: '/api/stats', body: { warmed: true } }], { keyPrefix: prefix, ttlSeconds: 50 }), 1);
  const ttl = Number(await ctx.redis.cli('ttl', `${prefix}:/api/stats`));
  assert.ok(ttl > 40 && ttl <= 50);
  const r = await fetch(`${base}/api/stats`);
  assert.equal(r.headers.get('x-cache'), 'HIT');
  assert.deepEqual(await r.json(), { warmed: true });
  assert.equal(handled, 0);

  assert.equal(await cm.warm(['/api/fetched'], { baseUrl: base }), 1);
  assert.equal(handled, 1);
  await new Promise((res) => setTimeout(res, 50));
  assert.ok(await ctx.redis.cli('get', `${prefix}:/api/fetched`), 'the fetched response was cached');
  assert.deepEqual(await (await fetch(`${base}/api/fetched`)).json(), { fetched: true });
  assert.equal(handled, 1);
  assert.deepEqual(cm.getStats(), { hits: 2, misses: 1, errors: 0, hitRate: 2 / 3 });
  const err = await captureError(() => cm.warm(['/x']));
  assertCode(err, 'ERR_RESILIS_ARGUMENT');
  assert.match(err.message, /baseUrl/);
});

// fallback.enabled: false: a service that starts without Redis rejects (with the fallback on it would come up
// degraded and the fallback would cache; start-degraded.spec.mjs).
test('cache(): Redis down, no fallback -> requests are served uncached and counted as errors', async () => {
  const dead = remember(ctx.resilis.createRedisService({ url: `redis://127.0.0.1:${await freePort()}`, enabled: true, connectTimeout: 200, fallback: { enabled: false } }));
  const mw = ctx.resilis.cacheMiddleware({ ttlSeconds: 60, service: dead });
  let handled = 0;
  const app = express();
  app.get('/x', mw, (req, res) => { handled++; res.send('fresh'); });
  const base = await listen(app);
  assert.equal(await (await fetch(`${base}/x`)).text(), 'fresh');
  assert.equal(await (await fetch(`${base}/x`)).text(), 'fresh');
  assert.equal(handled, 2);
  assert.equal(mw.getStats().errors, 2);
});

test('healthRouter: /health and /health/detailed answer 200 with the seed 001 shape', async () => {
  const app = express();
  app.use(ctx.resilis.healthRouter({ service: ctx.svc }));
  app.get('/other', (req, res) => res.send('other'));
  const base = await listen(app);
  const r = await fetch(`${base}/health`);
  assert.equal(r.status, 200);
  const body = await r.json();
  assert.equal(body.status, 'ok');
  assert.equal(body.overall, 'healthy');
  assert.ok(!Number.isNaN(Date.parse(body.timestamp)));
  assert.equal(typeof body.uptime, 'number');
  assert.equal(body.checks.length, 1);
  assert.equal(body.checks[0].name, 'redis');
  assert.equal(body.checks[0].status, 'healthy');
  assert.match(body.checks[0].message, /Redis connection is working \(latency: [\d.]+ms/);

  const d = await (await fetch(`${base}/health/detailed`)).json();
  const details = d.checks[0].details;
  assert.equal(details.port, ctx.redis.port);
  assert.equal(details.mode, 'standalone');
  assert.equal(typeof details.latency, 'number');
  assert.equal(details.circuitBreakerOpen, false);
  assert.equal(details.redisUptime, Number(/uptime_in_seconds:(\d+)/.exec(await ctx.redis.cli('info', 'server'))[1]));
  assert.equal(await (await fetch(`${base}/other`)).text(), 'other', 'other routes pass through');
});

test('healthRouter: 503 with overall degraded when Redis is unreachable (the fallback serves); mountable under a path', async () => {
  const own = await startRedis();
  const s = remember(ctx.resilis.createRedisService({ url: own.url, enabled: true, connectTimeout: 300, commandTimeout: 500 }));
  await s.connect();
  const app = express();
  app.use('/api', ctx.resilis.healthRouter({ service: s }));
  const base = await listen(app);
  assert.equal((await fetch(`${base}/api/health`)).status, 200);
  await own.stop();
  // The service learns of the loss from its connections: within the command timeout, not at once.
  let r = await fetch(`${base}/api/health/detailed`);
  for (const deadline = Date.now() + 3000; r.status !== 503 && Date.now() < deadline;) {
    await r.arrayBuffer();
    await sleep(50);
    r = await fetch(`${base}/api/health/detailed`);
  }
  assert.equal(r.status, 503);
  const body = await r.json();
  assert.equal(body.status, 'error');
  assert.equal(body.overall, 'degraded');
  assert.equal(body.checks[0].status, 'degraded');
  assert.ok(body.checks[0].details.error);

  const mem = remember(ctx.resilis.createRedisService({ enabled: false }));
  const app2 = express();
  app2.use(ctx.resilis.healthRouter({ service: mem }));
  const base2 = await listen(app2);
  const m = await fetch(`${base2}/health`);
  assert.equal(m.status, 200, 'memory by configuration is healthy');
  assert.match((await m.json()).checks[0].message, /memory/);
});

test('rateLimitMiddleware: 429 after the limit with X-RateLimit-* and Retry-After, per key', async () => {
  const prefix = `${uniqueKey('rlmw')}:`;
  const app = express();
  app.use(ctx.resilis.rateLimitMiddleware({ limit: 3, windowMs: 60000, service: ctx.svc, prefix, keyGenerator: (req) => req.headers['x-api-key'] ?? 'anon' }));
  app.get('/', (req, res) => res.json(req.rateLimit));
  const base = await listen(app);
  const statuses = [];
  let last;
  for (let i = 0; i < 5; i++) {
    last = await fetch(base, { headers: { 'x-api-key': 'k1' } });
    statuses.push(last.status);
    if (i < 4) await last.arrayBuffer();
  }
  assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
  assert.equal(last.headers.get('x-ratelimit-limit'), '3');
  assert.equal(last.headers.get('x-ratelimit-remaining'), '0');
  assert.ok(Number(last.headers.get('retry-after')) > 50);
  assert.ok(Number(last.headers.get('x-ratelimit-reset')) > Date.now() / 1000);
  assert.equal((await last.json()).error, 'Too Many Requests');
  assert.equal(await ctx.redis.cli('zcard', `${prefix}k1`), '3');
  const other = await fetch(base, { headers: { 'x-api-key': 'k2' } });
  assert.equal(other.status, 200);
  assert.equal((await other.json()).remaining, 2);
});

test('express middleware options are checked', () => {
  assert.throws(() => ctx.resilis.cacheMiddleware({ ttlSeconds: -1 }), { code: 'ERR_RESILIS_ARGUMENT', message: /ttlSeconds/ });
  assert.throws(() => ctx.resilis.rateLimitMiddleware({ limit: 0, windowMs: 10 }), { code: 'ERR_RESILIS_ARGUMENT', message: /limit/ });
  assert.throws(() => ctx.resilis.cacheMiddleware({ varyByHeaders: 'x' }), { code: 'ERR_RESILIS_ARGUMENT', message: /varyByHeaders/ });
});
