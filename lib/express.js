'use strict';
// Express middleware: route cache, health router, rate limit. Uses only req/res/next and Node's http objects:
// express is not a dependency.
//   cache(options) / cacheMiddleware(options) / new CacheMiddleware(service).cache(options)
//   healthRouter({ service })        GET /health and GET /health/detailed
//   metricsRouter({ service })       GET /metrics (Prometheus text format)
//   rateLimit(options) / rateLimitMiddleware(options)   429 + X-RateLimit-* headers

const V = require('./patterns/validate');
const { RedisCacheService } = require('./cache-service');
const { invalidatePattern } = require('./patterns/invalidate');
const { globEscape } = require('./patterns/keys');
const { argumentError } = require('./errors');
const { getRedisService } = require('./instances');

/** A RedisService from `service` (a RedisService, a RedisCacheService, or undefined: the singleton). */
function redisServiceOf(service) {
  if (service instanceof RedisCacheService) return service.service;
  return service ?? getRedisService();
}

// Response headers never stored with a cached response.
const UNCACHED_HEADERS = new Set(['set-cookie', 'connection', 'keep-alive', 'transfer-encoding', 'date', 'x-cache']);

function chunkBuffer(chunk, encoding) {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk);
  return Buffer.from(String(chunk), typeof encoding === 'string' ? encoding : 'utf8');
}

/** Calls onFinish(bodyBuffer) once the handler ends the response; the response goes out unchanged. */
function captureBody(res, onFinish) {
  const chunks = [];
  const write = res.write;
  const end = res.end;
  res.write = function (chunk, encoding, cb) {
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') chunks.push(chunkBuffer(chunk, encoding));
    return write.call(this, chunk, encoding, cb);
  };
  res.end = function (chunk, encoding, cb) {
    if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') chunks.push(chunkBuffer(chunk, encoding));
    res.write = write;
    res.end = end;
    const out = end.call(this, chunk, encoding, cb);
    onFinish(Buffer.concat(chunks));
    return out;
  };
}

function pathOf(req) {
  const url = req.originalUrl ?? req.url ?? '/';
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

function userOf(req, varyByUser) {
  if (typeof varyByUser === 'function') return String(varyByUser(req) ?? 'anonymous');
  const u = req.user;
  const id = u && (u.id ?? u.userId ?? u.sub);
  return id === undefined || id === null ? 'anonymous' : String(id);
}

function headerOf(req, name) {
  const v = req.headers?.[name.toLowerCase()];
  return Array.isArray(v) ? v.join(',') : (v ?? '');
}

function checkCacheOptions(options) {
  const o = V.options(options, 'cache: options');
  const ttlSeconds = o.ttlSeconds ?? 300;
  V.positive(ttlSeconds, 'cache: options.ttlSeconds');
  const keyPrefix = o.keyPrefix ?? 'cache';
  V.key(keyPrefix, 'cache: options.keyPrefix');
  const varyByHeaders = o.varyByHeaders ?? [];
  if (!Array.isArray(varyByHeaders) || varyByHeaders.some((h) => typeof h !== 'string' || !h)) {
    throw argumentError('cache: options.varyByHeaders must be an array of header names');
  }
  return {
    ttlSeconds,
    keyPrefix,
    includeQueryParams: o.includeQueryParams ?? true,
    varyByUser: o.varyByUser ?? false,
    varyByHeaders: varyByHeaders.map((h) => h.toLowerCase()).sort(),
  };
}

/** The route cache in class form: `new CacheMiddleware(service).cache({ ttlSeconds, ... })`. */
class CacheMiddleware {
  /** `service`: a RedisService or RedisCacheService (default: the getRedisService() singleton). */
  constructor(service) {
    this._serviceOption = service;
    this._service = null;
    this.prefixes = new Set();
    this.stats = { hits: 0, misses: 0, errors: 0 };
  }

  get service() {
    if (!this._service) this._service = redisServiceOf(this._serviceOption);
    return this._service;
  }

  /** The Redis key of one request under `config`. */
  keyFor(req, config) {
    let key = `${config.keyPrefix}:${pathOf(req)}`;
    if (config.includeQueryParams) {
      const url = req.originalUrl ?? req.url ?? '';
      const q = url.indexOf('?');
      if (q !== -1) {
        const params = new URLSearchParams(url.slice(q + 1));
        params.sort();
        const text = params.toString();
        if (text) key += `|q=${text}`;
      }
    }
    if (config.varyByUser) key += `|u=${userOf(req, config.varyByUser)}`;
    for (const h of config.varyByHeaders) key += `|h:${h}=${headerOf(req, h)}`;
    return key;
  }

  /** Express middleware caching GET responses (status, headers, body) for `ttlSeconds`. */
  cache(options) {
    const config = checkCacheOptions(options);
    this.prefixes.add(config.keyPrefix);
    return async (req, res, next) => {
      if (req.method !== 'GET') return next();
      const key = this.keyFor(req, config);
      let entry = null;
      try {
        const raw = await this.service.get(key);
        entry = raw === null ? null : JSON.parse(raw);
      } catch {
        this.stats.errors++;
        return next(); // the cache is down or the entry unreadable: serve uncached
      }
      if (entry) {
        this.stats.hits++;
        res.statusCode = entry.status;
        for (const [name, value] of Object.entries(entry.headers)) res.setHeader(name, value);
        res.setHeader('X-Cache', 'HIT');
        res.end(Buffer.from(entry.body, 'base64'));
        return undefined;
      }
      this.stats.misses++;
      res.setHeader('X-Cache', 'MISS');
      captureBody(res, (body) => {
        if (!isCacheable(res)) return;
        const stored = JSON.stringify({ status: res.statusCode, headers: storedHeaders(res), body: body.toString('base64') });
        this.service.set(key, stored, { EX: Math.ceil(config.ttlSeconds) }).catch(() => { this.stats.errors++; });
      });
      return next();
    };
  }

  getStats() {
    const { hits, misses, errors } = this.stats;
    const total = hits + misses;
    return { hits, misses, errors, hitRate: total === 0 ? 0 : hits / total };
  }

  resetStats() {
    this.stats = { hits: 0, misses: 0, errors: 0 };
  }

  /** Deletes every cached variant (query, user, headers) of `path`; resolves how many. */
  async invalidateRoute(path, options) {
    V.key(path, 'invalidateRoute: path');
    const { keyPrefix } = V.options(options, 'invalidateRoute: options');
    const prefixes = keyPrefix ? [keyPrefix] : [...(this.prefixes.size ? this.prefixes : ['cache'])];
    let deleted = 0;
    for (const prefix of prefixes) {
      const base = `${prefix}:${path}`;
      deleted += Number(await this.service.unlink(base));
      deleted += await invalidatePattern(this.service, `${globEscape(base)}|*`);
    }
    return deleted;
  }

  /**
   * Pre-fills the cache. Each entry is either
   *   - a path string: requested from `options.baseUrl` (the running app) so the middleware
   *     caches it as it would any miss, or
   *   - { path, body, status = 200, headers, ttlSeconds }: stored directly (an object or array
   *     body is sent as JSON), under `options.keyPrefix` (default: this middleware's prefix).
   * Resolves how many entries were warmed.
   */
  async warm(entries, options, defaults = {}) {
    if (!Array.isArray(entries)) throw argumentError('warm: expected an array of paths or { path, body } entries');
    const o = V.options(options, 'warm: options');
    const keyPrefix = o.keyPrefix ?? defaults.keyPrefix ?? 'cache';
    const ttlSeconds = o.ttlSeconds ?? defaults.ttlSeconds ?? 300;
    let warmed = 0;
    for (const entry of entries) {
      if (typeof entry === 'string') {
        if (!o.baseUrl) throw argumentError('warm: a path entry needs options.baseUrl (where the app listens)');
        const response = await fetch(new URL(entry, o.baseUrl), { headers: o.headers });
        await response.arrayBuffer();
        if (response.ok) warmed++;
        continue;
      }
      V.options(entry, 'warm: entry');
      V.key(entry.path, 'warm: entry.path');
      const isText = typeof entry.body === 'string' || Buffer.isBuffer(entry.body);
      const body = isText ? Buffer.from(entry.body) : Buffer.from(JSON.stringify(entry.body ?? null));
      const headers = { 'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', ...entry.headers };
      headers['content-length'] = String(body.length);
      const stored = JSON.stringify({ status: entry.status ?? 200, headers, body: body.toString('base64') });
      const ttl = entry.ttlSeconds ?? ttlSeconds;
      await this.service.set(`${keyPrefix}:${entry.path}`, stored, { EX: Math.ceil(V.positive(ttl, 'warm: ttlSeconds')) });
      warmed++;
    }
    return warmed;
  }
}

function isCacheable(res) {
  if (res.statusCode < 200 || res.statusCode >= 300) return false;
  if (res.getHeader('set-cookie') !== undefined) return false; // never share one user's cookie
  const cc = String(res.getHeader('cache-control') ?? '');
  return !/no-store|private/i.test(cc);
}

function storedHeaders(res) {
  const out = {};
  for (const [name, value] of Object.entries(res.getHeaders())) {
    if (!UNCACHED_HEADERS.has(name)) out[name] = value;
  }
  return out;
}

/**
 * cache({ ttlSeconds, keyPrefix, includeQueryParams, varyByUser, varyByHeaders, service }):
 * a middleware with getStats(), resetStats(), invalidateRoute(path) and warm(entries, options).
 */
function cache(options) {
  const o = V.options(options, 'cache: options');
  const m = new CacheMiddleware(o.service);
  const mw = m.cache(o);
  const config = checkCacheOptions(o);
  mw.getStats = () => m.getStats();
  mw.resetStats = () => m.resetStats();
  mw.invalidateRoute = (path) => m.invalidateRoute(path);
  mw.warm = (entries, opts) => m.warm(entries, opts, config);
  mw.keyFor = (req) => m.keyFor(req, config);
  mw.middleware = m;
  return mw;
}

// ---- health ----

async function redisCheck(service, detailed) {
  let h;
  try {
    h = await service.healthCheck();
  } catch (err) {
    h = { healthy: false, status: 'disconnected', error: err.message };
  }
  const status = h.healthy ? 'healthy' : h.status === 'degraded' ? 'degraded' : 'unhealthy';
  let message;
  if (h.healthy && h.mode === 'memory') message = 'Serving from memory (Redis disabled by configuration)';
  else if (h.healthy) message = `Redis connection is working (latency: ${h.latency}ms, mode: ${h.mode})`;
  else if (status === 'degraded') message = 'Redis is unreachable; serving from the in-memory store';
  else message = `Redis is unreachable${h.error ? `: ${h.error}` : ''}`;
  const check = { name: 'redis', status, message };
  if (detailed) {
    check.details = {
      latency: h.latency ?? null,
      mode: h.mode ?? null,
      host: h.host ?? null,
      port: h.port ?? null,
      connection: h.status,
      circuitBreakerOpen: h.circuit === 'open',
    };
    if (h.healthy && h.mode !== 'memory') {
      const stats = await service.getStats().catch(() => null);
      if (stats) Object.assign(check.details, { memoryUsage: stats.memoryUsage, connectedClients: stats.connectedClients, redisUptime: stats.uptime });
    }
    if (h.error) check.details.error = h.error;
  }
  return check;
}

/**
 * healthRouter({ service }): a middleware answering GET /health and GET /health/detailed
 * (mounted anywhere: app.use(healthRouter()) or app.use('/api', healthRouter())), 200 when
 * Redis is healthy, 503 otherwise. Other requests pass through.
 */
function healthRouter(options) {
  const o = V.options(options, 'healthRouter: options');
  let service = null;
  return async (req, res, next) => {
    const full = ((req.baseUrl ?? '') + (req.path ?? pathOf(req))).replace(/\/+$/, '');
    const detailed = full.endsWith('/health/detailed');
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !(detailed || full.endsWith('/health'))) return next();
    try {
      service ??= redisServiceOf(o.service);
      const check = await redisCheck(service, detailed);
      const ok = check.status === 'healthy';
      const body = {
        status: ok ? 'ok' : 'error',
        timestamp: new Date().toISOString(),
        uptime: Math.round(process.uptime()),
        checks: [check],
        overall: check.status,
      };
      res.statusCode = ok ? 200 : 503;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(req.method === 'HEAD' ? undefined : JSON.stringify(body));
      return undefined;
    } catch (err) {
      return next(err);
    }
  };
}

/**
 * metricsRouter({ service, path = '/metrics' }): answers GET `path` with service.metrics()
 * in the Prometheus text format. Other requests pass through.
 */
function metricsRouter(options) {
  const o = V.options(options, 'metricsRouter: options');
  const path = (o.path ?? '/metrics').replace(/\/+$/, '');
  const { CONTENT_TYPE } = require('./metrics');
  let service = null;
  return async (req, res, next) => {
    const full = ((req.baseUrl ?? '') + (req.path ?? pathOf(req))).replace(/\/+$/, '');
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !full.endsWith(path)) return next();
    try {
      service ??= redisServiceOf(o.service);
      const text = await service.metrics();
      res.statusCode = 200;
      res.setHeader('Content-Type', CONTENT_TYPE);
      res.setHeader('Cache-Control', 'no-store');
      res.end(req.method === 'HEAD' ? undefined : text);
      return undefined;
    } catch (err) {
      return next(err);
    }
  };
}

// ---- rate limit ----

/**
 * rateLimit({ limit, windowMs, keyGenerator = (req) => req.ip, algorithm, service, failClosed,
 * prefix, statusCode = 429 }): sets X-RateLimit-Limit / -Remaining / -Reset (epoch seconds),
 * answers 429 with Retry-After (seconds) when over the limit, and leaves the result on
 * req.rateLimit (and req.rateLimitInfo, the name some rate-limit middleware use).
 */
function rateLimit(options) {
  const o = V.options(options, 'rateLimit: options');
  const limit = V.positiveInt(o.limit, 'rateLimit: options.limit');
  const windowMs = V.positive(o.windowMs, 'rateLimit: options.windowMs');
  const keyGenerator = o.keyGenerator ?? ((req) => req.ip ?? req.socket?.remoteAddress ?? 'unknown');
  V.fn(keyGenerator, 'rateLimit: options.keyGenerator');
  const algorithm = o.algorithm ?? 'sliding';
  const statusCode = o.statusCode ?? 429;
  let limiter = null;
  return async (req, res, next) => {
    try {
      limiter ??= o.service instanceof RedisCacheService && o.failClosed === undefined && o.prefix === undefined
        ? o.service
        : new RedisCacheService({ service: redisServiceOf(o.service), rateLimit: { failClosed: o.failClosed, prefix: o.prefix } });
      const key = String(await keyGenerator(req));
      const result = await limiter.checkRateLimit(key, { limit, windowMs, algorithm });
      req.rateLimit = result;
      req.rateLimitInfo = result;
      res.setHeader('X-RateLimit-Limit', String(result.limit));
      res.setHeader('X-RateLimit-Remaining', String(result.remaining));
      res.setHeader('X-RateLimit-Reset', String(Math.ceil(result.resetAt / 1000)));
      if (result.allowed) return next();
      res.statusCode = statusCode;
      res.setHeader('Retry-After', String(Math.max(1, Math.ceil(result.retryAfterMs / 1000))));
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ error: 'Too Many Requests', retryAfterMs: result.retryAfterMs }));
      return undefined;
    } catch (err) {
      return next(err);
    }
  };
}

module.exports = {
  CacheMiddleware,
  cache,
  cacheMiddleware: cache,
  healthRouter,
  metricsRouter,
  rateLimit,
  rateLimitMiddleware: rateLimit,
};
