// Types of `resilis/express`: the same declarations as the main entry.
export {
  CacheMiddleware,
  cacheMiddleware,
  cacheMiddleware as cache,
  healthRouter,
  metricsRouter,
  rateLimitMiddleware,
  rateLimitMiddleware as rateLimit,
} from './index.js';
export type {
  CacheOptions,
  CacheStats,
  CachingMiddleware,
  HealthResponse,
  HealthRouterOptions,
  MetricsRouterOptions,
  Middleware,
  RateLimitMiddlewareOptions,
  WarmEntry,
  WarmOptions,
} from './index.js';
