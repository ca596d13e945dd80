'use strict';
// checkRateLimit: a sliding-window log (default) or a token bucket, each one Lua script run
// atomically on the server with the server's clock. While Redis is down (connection errors,
// timeouts, a closed service, or the in-memory store which has no EVAL) it fails open
// through an in-process limiter that keeps the same limit per process, or denies everything
// when configured `failClosed`.

const { randomHex } = require('./random');
const V = require('./validate');
const { SCRIPTS, runScript } = require('./scripts');
const { isOutage } = require('./outage');
const { argumentError } = require('../errors');

const ALGORITHMS = new Set(['sliding', 'token-bucket']);

/** (limit, windowSeconds) or ({ limit, windowMs, algorithm }) -> { limit, windowMs, algorithm }. */
function parseRateArgs(limitOrOptions, windowSeconds) {
  if (limitOrOptions && typeof limitOrOptions === 'object') {
    const { limit, windowMs, algorithm = 'sliding' } = limitOrOptions;
    V.positiveInt(limit, 'checkRateLimit: options.limit');
    V.positive(windowMs, 'checkRateLimit: options.windowMs');
    if (!ALGORITHMS.has(algorithm)) {
      throw argumentError(`checkRateLimit: options.algorithm must be 'sliding' or 'token-bucket', got ${JSON.stringify(algorithm)}`);
    }
    return { limit, windowMs: Math.ceil(windowMs), algorithm };
  }
  V.positiveInt(limitOrOptions, 'checkRateLimit: limit');
  V.positive(windowSeconds, 'checkRateLimit: windowSeconds');
  return { limit: limitOrOptions, windowMs: Math.ceil(windowSeconds * 1000), algorithm: 'sliding' };
}

function resultFrom(reply, limit) {
  const [allowed, remaining, resetAt, retryAfterMs] = reply.map(Number);
  return { allowed: allowed === 1, remaining: Math.max(0, remaining), resetAt, limit, retryAfterMs };
}

/** The same two algorithms in process memory, used only while Redis is unavailable. */
class LocalLimiter {
  constructor(maxKeys = 10000) {
    this.entries = new Map();
    this.maxKeys = maxKeys;
  }

  check(key, { limit, windowMs, algorithm }, now = Date.now()) {
    const id = `${algorithm}|${limit}|${windowMs}|${key}`;
    let state = this.entries.get(id);
    if (!state) {
      this._evict(now);
      state = algorithm === 'sliding' ? { log: [] } : { tokens: limit, ts: now };
      this.entries.set(id, state);
    }
    state.expires = now + windowMs;
    return algorithm === 'sliding' ? this._sliding(state, limit, windowMs, now) : this._bucket(state, limit, windowMs, now);
  }

  _sliding(state, limit, windowMs, now) {
    const log = state.log;
    while (log.length && log[0] <= now - windowMs) log.shift();
    const allowed = log.length < limit;
    if (allowed) log.push(now);
    const resetAt = (log.length ? log[0] : now) + windowMs;
    return { allowed, remaining: limit - log.length, resetAt, limit, retryAfterMs: allowed ? 0 : Math.max(0, resetAt - now) };
  }

  _bucket(state, limit, windowMs, now) {
    const rate = limit / windowMs;
    state.tokens = Math.min(limit, state.tokens + Math.max(0, now - state.ts) * rate);
    state.ts = now;
    const allowed = state.tokens >= 1;
    if (allowed) state.tokens -= 1;
    const toFull = Math.ceil((limit - state.tokens) / rate);
    const retryAfterMs = allowed ? 0 : Math.ceil((1 - state.tokens) / rate);
    return { allowed, remaining: Math.floor(state.tokens), resetAt: now + toFull, limit, retryAfterMs };
  }

  _evict(now) {
    if (this.entries.size < this.maxKeys) return;
    for (const [id, s] of this.entries) if (s.expires <= now) this.entries.delete(id);
    // still full of live windows: drop the oldest inserted
    while (this.entries.size >= this.maxKeys) this.entries.delete(this.entries.keys().next().value);
  }
}

class RateLimiter {
  /** options: { prefix = 'ratelimit:', failClosed = false } */
  constructor(service, options = {}) {
    this.service = service;
    this.prefix = options.prefix ?? 'ratelimit:';
    this.failClosed = Boolean(options.failClosed);
    this.local = new LocalLimiter(options.localMaxKeys);
  }

  async check(key, limitOrOptions, windowSeconds) {
    V.key(key, 'checkRateLimit: key');
    const params = parseRateArgs(limitOrOptions, windowSeconds);
    const redisKey = this.prefix + key;
    try {
      const reply = params.algorithm === 'sliding'
        ? await runScript(this.service, SCRIPTS.rateLimitSliding, [redisKey],
          [params.limit, params.windowMs, randomHex(8)])
        : await runScript(this.service, SCRIPTS.rateLimitTokenBucket, [redisKey], [params.limit, params.windowMs]);
      return resultFrom(reply, params.limit);
    } catch (err) {
      if (!isOutage(err)) throw err;
      return this.degraded(redisKey, params);
    }
  }

  degraded(redisKey, params) {
    if (this.failClosed) {
      const retryAfterMs = Math.min(params.windowMs, 1000);
      return { allowed: false, remaining: 0, resetAt: Date.now() + retryAfterMs, limit: params.limit, retryAfterMs, degraded: true };
    }
    return { ...this.local.check(redisKey, params), degraded: true };
  }
}

module.exports = { RateLimiter, LocalLimiter, parseRateArgs };
