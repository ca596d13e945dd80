// ESM entry of `resilis/express`: the same objects as the CommonJS module.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mod = require('./express.js');

export const { CacheMiddleware, cache, cacheMiddleware, healthRouter, metricsRouter, rateLimit, rateLimitMiddleware } = mod;
export default mod;
