'use strict';
// Entry points: every public export of `resilis` lives here.

const { RedisService } = require('./service');
const { createRedisService, getRedisService, circuitBreaker } = require('./instances');
const { ResilisError, ResilisTypeError } = require('./errors');
const { RedisCacheService, parseFence } = require('./cache-service');
const express = require('./express');
const { RedisPartitioningService, createPartitioningService } = require('./partitioning');
const { DEFAULT_MAX_VALUE_BYTES } = require('../binding.js');

let cacheSingleton = null;

/** A new RedisCacheService; `options.service` defaults to the getRedisService() singleton. */
function createRedisCacheService(options) {
  return new RedisCacheService(options);
}

/** The process-wide RedisCacheService over the getRedisService() singleton. */
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

/** A provider factory; the provider comes from REDIS_PROVIDER (local, or upstash: REST). healthCheck() resolves a boolean, as that interface says; service.healthCheck() reports the provider. */
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
  metricsRouter: express.metricsRouter,
  createRedisService,
  getRedisService,
  redisService,
  RedisServiceFactory,
  RedisPartitioningService,
  createPartitioningService,
  ResilisError,
  ResilisTypeError,
  /** The default of `maxValueBytes`: Redis' default proto-max-bulk-len (512 MiB). */
  DEFAULT_MAX_VALUE_BYTES,
};
