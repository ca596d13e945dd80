'use strict';
// The services this process created through the entry points: the
// getRedisService() singleton, createRedisService(), and the process-wide
// circuitBreaker view over them. Its own module so that cache-service.js and
// express.js reach the singleton without requiring index.js (no cycle).

/** RedisService, loaded on first use: `require('resilis/express')` alone does not load the native addon. */
function newService(options) {
  const { RedisService } = require('./service');
  return track(new RedisService(options));
}

let singleton = null;
/** Every service created here (weakly held), for `circuitBreaker`. */
const services = new Set();

function track(service) {
  services.add(new WeakRef(service));
  return service;
}

/** A new, independent service (tests, several deployments). */
function createRedisService(options) {
  return newService(options);
}

/** The process-wide service, configured from the environment merged with `options` on first call. */
function getRedisService(options) {
  if (!singleton) singleton = newService(options);
  return singleton;
}

const STATE_RANK = { closed: 0, 'half-open': 1, open: 2 };

/** `circuitBreaker.getMetrics('redis-get')`: one operation's breaker, summed
 * over the services of this process (worst state wins). */
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

module.exports = { createRedisService, getRedisService, circuitBreaker };
