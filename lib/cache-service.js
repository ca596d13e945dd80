'use strict';
// RedisCacheService: JSON values and the patterns, over a RedisService whose
// connections it shares. Each concern lives in ./patterns; this class wires them together.

const V = require('./patterns/validate');
const { encode, decode } = require('./patterns/json');
const { GetOrSet } = require('./patterns/get-or-set');
const { invalidatePattern } = require('./patterns/invalidate');
const { Sessions } = require('./patterns/sessions');
const { RateLimiter } = require('./patterns/rate-limit');
const { Locks, parseFence } = require('./patterns/locks');
const { Queue } = require('./patterns/queue');
const { PubSub } = require('./patterns/pubsub');
const { getRedisService } = require('./instances');
const { argumentError } = require('./errors');

class RedisCacheService {
  /**
   * options: { service (default: the getRedisService() singleton),
   *   sessionPrefix, sessionTtlSeconds, lockPrefix, queuePrefix, visibilityTimeoutMs,
   *   rateLimit: { failClosed, prefix } }
   */
  constructor(options = {}) {
    const opts = V.options(options, 'createRedisCacheService: options');
    const rate = V.options(opts.rateLimit, 'createRedisCacheService: options.rateLimit');
    this.service = opts.service ?? getRedisService();
    if (!this.service || typeof this.service.evalsha !== 'function') {
      throw argumentError('createRedisCacheService: options.service must be a RedisService');
    }
    this._getOrSet = new GetOrSet(this.service, { lockPrefix: opts.getOrSetLockPrefix });
    this._sessions = new Sessions(this.service, { prefix: opts.sessionPrefix, ttlSeconds: opts.sessionTtlSeconds });
    this._rate = new RateLimiter(this.service, rate);
    this._locks = new Locks(this.service, { prefix: opts.lockPrefix });
    this._pubsub = new PubSub(this.service);
    this._queue = new Queue(this.service, { prefix: opts.queuePrefix, visibilityTimeoutMs: opts.visibilityTimeoutMs });
  }

  // ---- JSON values ----

  /** The decoded value, or null when missing. A stored string that is not JSON comes back as is. */
  async get(key) {
    return decode(await this.service.get(V.key(key, 'get: key')));
  }

  async set(key, value, ttlSeconds) {
    V.key(key, 'set: key');
    V.optionalPositive(ttlSeconds, 'set: ttlSeconds');
    const text = encode(value, 'set: value');
    await (ttlSeconds ? this.service.set(key, text, { EX: Math.ceil(ttlSeconds) }) : this.service.set(key, text));
    return true;
  }

  async delete(key) {
    return Number(await this.service.del(V.key(key, 'delete: key'))) > 0;
  }

  async exists(key) {
    return Number(await this.service.exists(V.key(key, 'exists: key'))) > 0;
  }

  getOrSet(key, factory, ttlSeconds, options) {
    return this._getOrSet.run(key, factory, ttlSeconds, options);
  }

  invalidatePattern(pattern) {
    return invalidatePattern(this.service, pattern);
  }

  // ---- sessions ----

  setSession(id, data, ttlSeconds) { return this._sessions.set(id, data, ttlSeconds); }
  getSession(id) { return this._sessions.get(id); }
  deleteSession(id) { return this._sessions.delete(id); }
  touchSession(id, ttlSeconds) { return this._sessions.touch(id, ttlSeconds); }

  // ---- rate limiting ----

  checkRateLimit(key, limitOrOptions, windowSeconds) {
    return this._rate.check(key, limitOrOptions, windowSeconds);
  }

  // ---- locks ----

  acquireLock(key, ttlSeconds) { return this._locks.acquire(key, ttlSeconds); }
  releaseLock(key, token) { return this._locks.release(key, token); }
  extendLock(key, token, ttlSeconds) { return this._locks.extend(key, token, ttlSeconds); }
  withLock(key, fn, options) { return this._locks.withLock(key, fn, options); }
  parseFence(token) { return parseFence(token); }

  // ---- queue ----

  enqueue(queue, data, options) { return this._queue.enqueue(queue, data, options); }
  dequeue(queue, options) { return this._queue.dequeue(queue, options); }
  ack(queue, id) { return this._queue.ack(queue, id); }
  nack(queue, id, options) { return this._queue.nack(queue, id, options); }
  requeueStale(queue, options) { return this._queue.requeueStale(queue, options); }
  queueStats(queue) { return this._queue.stats(queue); }

  // ---- pub/sub ----

  /** callback(message, channel) on the JS thread; JSON messages arrive decoded. Resolves the subscription count. */
  subscribe(channel, callback) { return this._pubsub.subscribe(channel, callback); }
  /** callback(message, channel, pattern). */
  psubscribe(pattern, callback) { return this._pubsub.psubscribe(pattern, callback); }
  /** One callback, or every listener of the channel (or of every channel with no argument). */
  unsubscribe(channel, callback) { return this._pubsub.unsubscribe(channel, callback); }
  punsubscribe(pattern, callback) { return this._pubsub.punsubscribe(pattern, callback); }

  /** Strings and Buffers are sent as they are; anything else is JSON-encoded. */
  async publish(channel, message) {
    V.key(channel, 'publish: channel');
    const payload = typeof message === 'string' || Buffer.isBuffer(message) ? message : encode(message, 'publish: message');
    return Number(await this.service.publish(channel, payload));
  }

  healthCheck() {
    return this.service.healthCheck();
  }
}

// Wrap every async method so a bad argument rejects instead of throwing synchronously.
for (const name of Object.getOwnPropertyNames(RedisCacheService.prototype)) {
  const fn = RedisCacheService.prototype[name];
  if (name === 'constructor' || name === 'parseFence' || typeof fn !== 'function' || fn.constructor.name === 'AsyncFunction') continue;
  RedisCacheService.prototype[name] = function (...args) {
    try {
      return fn.apply(this, args);
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

module.exports = { RedisCacheService, parseFence };
