'use strict';
// Entry points. Every export that seeds 000-004 import lives here.

const { RedisService } = require('./service');
const { ResilisError, ResilisTypeError } = require('./errors');
const { RedisCacheService, parseFence } = require('./cache-service');
const express = require('./express');
const { DEFAULT_MAX_VALUE_BYTES } = require('../binding.js');

let singleton = null;
/** Every service created here (weakly held), for `circuitBreaker`. */
const services = new Set();

function track(service) {
  services.add(new WeakRef(service));
  return service;
}

/** A new, independent service (tests, several deployments). */
function createRedisService(options) {
  return track(new RedisService(options));
}

/** The process-wide service, configured from the environment merged with `options` on first call. */
function getRedisService(options) {
  if (!singleton) singleton = track(new RedisService(options));
  return singleton;
}

const STATE_RANK = { closed: 0, 'half-open': 1, open: 2 };

/** Seed 000's `circuitBreaker.getMetrics('redis-get')`: one operation's
 * breaker, summed over the services of this process (worst state wins). */
const circuitBreaker = {
  getMetrics(name) {
    const total = { state: 'closed', requests: 0, failures: 0, successes: 0, rejects: 0, timeouts: 0, fallbacks: 0 };
    for (const ref of services) {
      const service = ref.deref();
      if (!service) {
        services.delete(ref);
        continue;
      }
      const m = service.getCircuitBreakerMetrics(name);
      for (const k of Object.keys(total)) if (k !== 'state') total[k] += m[k] || 0;
      if (STATE_RANK[m.state] > STATE_RANK[total.state]) total.state = m.state;
    }
    return total;
  },
};

let cacheSingleton = null;

/** A new RedisCacheService; `options.service` defaults to the getRedisService() singleton. */
function createRedisCacheService(options) {
  return new RedisCacheService(options);
}

/** The process-wide RedisCacheService over the getRedisService() singleton (seed 004). */
function getRedisCacheService() {
  if (!cacheSingleton) cacheSingleton = createRedisCacheService();
  return cacheSingleton;
}

/** `redisService`: the same singleton, created on first property access (lazy connect on first command). */
const redisService = new Proxy(
  {},
  {
    get(_t, prop) {
      const s = getRedisService();
      const v = s[prop];
      return typeof v === 'function' ? v.bind(s) : v;
    },
    has(_t, prop) {
      return prop in getRedisService();
    },
  },
);

/** The IRedisService factory; the provider comes from REDIS_PROVIDER (local, or upstash: REST). healthCheck() resolves a boolean, as that interface says; service.healthCheck() reports the provider. */
const RedisServiceFactory = {
  create(options) {
    return createRedisService(options);
  },
  getInstance(options) {
    return getRedisService(options);
  },
  async healthCheck() {
    try {
      return await getRedisService().ping();
    } catch {
      return false;
    }
  },
};

module.exports = {
  RedisService,
  circuitBreaker,
  RedisCacheService,
  createRedisCacheService,
  getRedisCacheService,
  parseFence,
  CacheMiddleware: express.CacheMiddleware,
  cacheMiddleware: express.cacheMiddleware,
  rateLimitMiddleware: express.rateLimitMiddleware,
  healthRouter: express.healthRouter,
  createRedisService,
  getRedisService,
  redisService,
  RedisServiceFactory,
  ResilisError,
  ResilisTypeError,
  /** The default of `maxValueBytes`: Redis' default proto-max-bulk-len (512 MiB). */
  DEFAULT_MAX_VALUE_BYTES,
};
