// A RedisCacheService over a fresh service on a harness server (closed by closeServices()).
import { loadResilis } from './package.mjs';
import { openService } from './service.mjs';

export function openCache(server, options = {}) {
  const resilis = loadResilis();
  const svc = openService(server);
  const cache = resilis.createRedisCacheService({ ...options, service: svc });
  return { resilis, svc, cache };
}
