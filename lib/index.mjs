// ESM entry: the same objects as the CommonJS entry.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const resilis = require('./index.js');

export const {
  RedisService,
  circuitBreaker,
  RedisCacheService,
  createRedisCacheService,
  getRedisCacheService,
  parseFence,
  CacheMiddleware,
  cacheMiddleware,
  rateLimitMiddleware,
  healthRouter,
  metricsRouter,
  createRedisService,
  getRedisService,
  redisService,
  RedisServiceFactory,
  RedisPartitioningService,
  createPartitioningService,
  ResilisError,
  ResilisTypeError,
  DEFAULT_MAX_VALUE_BYTES,
} = resilis;
export default resilis;
