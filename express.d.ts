// Types of `resilis/express`: the same declarations as the main entry.
export {
  CacheMiddleware,
  cacheMiddleware,
  cacheMiddleware as cache,
  healthRouter,
  rateLimitMiddleware,
  rateLimitMiddleware as rateLimit,
} from './index.js';
export type {
  CacheOptions,
  CacheStats,
  CachingMiddleware,
  HealthResponse,
  HealthRouterOptions,
  Middleware,
  RateLimitMiddlewareOptions,
  WarmEntry,
  WarmOptions,
} from './index.js';
