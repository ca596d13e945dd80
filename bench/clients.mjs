// Client adapters with one common interface:
//   { name, connect(), set(k, v), get(k), mget(keys), pipelineSet(pairs), close() }
// pipelineSet(pairs) takes [[key, value], ...] and resolves the replies in order, with an Error standing in
// for each failed command (so the runner can count failures without each library's reply shape).
// Each library is imported lazily inside its factory, so a missing or broken install only fails that client.
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { PATTERN_PARAMS } from './workloads.mjs';

const require = createRequire(import.meta.url);

// The sliding-window script resilis runs, read from the same file, for the ioredis rows.
const SLIDING_LUA = readFileSync(new URL('../lib/patterns/lua/rate-limit-sliding.lua', import.meta.url), 'utf8');
const { limit: RL_LIMIT, windowMs: RL_WINDOW } = PATTERN_PARAMS.rateLimit;
const RL_LIMIT_OPTIONS = { limit: RL_LIMIT, windowMs: RL_WINDOW };
const factory = async () => JSON.parse(PATTERN_PARAMS.factoryValue);

/**
 * ioredis 6, one connection: default options, or (`autoPipelining`) its documented setting for many calls in
 * flight, `enableAutoPipelining`. `tls`: { ca } (PEM) for a TLS server.
 */
async function ioredisAdapter({ host, port, tls }, { autoPipelining = false } = {}) {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis({
    host,
    port,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    enableAutoPipelining: autoPipelining,
    ...(tls ? { tls: { ca: tls.ca, servername: 'localhost' } } : {}),
  });
  redis.on('error', () => {}); // reported through the rejected calls instead
  redis.defineCommand('slidingRateLimit', { numberOfKeys: 1, lua: SLIDING_LUA });
  const inflight = new Map();
  return {
    name: 'ioredis',
    connect: () => redis.connect(),
    set: (k, v) => redis.set(k, v),
    get: (k) => redis.get(k),
    mget: (keys) => redis.mget(keys),
    async pipelineSet(pairs) {
      const p = redis.pipeline();
      for (const [k, v] of pairs) p.set(k, v);
      const res = await p.exec();
      return res.map(([err, val]) => err ?? val);
    },
    // The hand-written equivalents: the same Lua through defineCommand (EVALSHA, EVAL on
    // NOSCRIPT), and cache-aside with one in-flight load per key.
    checkRateLimit: (k) => redis.slidingRateLimit(`ratelimit:${k}`, RL_LIMIT, RL_WINDOW, randomBytes(8).toString('hex')),
    getOrSet(k) {
      const running = inflight.get(k);
      if (running) return running;
      const p = (async () => {
        const raw = await redis.get(k);
        if (raw !== null) return JSON.parse(raw);
        const v = await factory();
        await redis.set(k, JSON.stringify(v), 'EX', PATTERN_PARAMS.getOrSetTtl);
        return v;
      })().finally(() => inflight.delete(k));
      inflight.set(k, p);
      return p;
    },
    close: () => redis.quit(),
  };
}

/** node-redis 6 (`redis`), one connection, defaults. */
async function nodeRedisAdapter({ url, tls }) {
  const { createClient } = await import('redis');
  const client = createClient({ url, ...(tls ? { socket: { tls: true, ca: tls.ca, servername: 'localhost' } } : {}) });
  client.on('error', () => {});
  return {
    name: 'redis',
    connect: () => client.connect(),
    set: (k, v) => client.set(k, v),
    get: (k) => client.get(k),
    mget: (keys) => client.mGet(keys),
    pipelineSet(pairs) {
      const m = client.multi();
      for (const [k, v] of pairs) m.set(k, v);
      return m.execAsPipeline();
    },
    close: () => client.quit(),
  };
}

/** @valkey/valkey-glide 2.5 standalone client (Rust core in-process), defaults but for requestTimeout. */
async function glideAdapter({ host, port, tls }) {
  const glide = await import('@valkey/valkey-glide');
  const { GlideClient, Batch, Logger } = glide.default ?? glide;
  Logger.setLoggerConfig('error'); // its per-timeout warnings would flood the table's output
  let client;
  return {
    name: 'glide',
    async connect() {
      client = await GlideClient.createClient({
        addresses: [{ host, port }],
        // Its 250 ms default request timeout fails calls when this shared machine stalls; the others wait seconds.
        requestTimeout: 5000,
        ...(tls ? { useTLS: true, advancedConfiguration: { tlsAdvancedConfiguration: { rootCertificates: tls.ca } } } : {}),
      });
    },
    set: (k, v) => client.set(k, v),
    get: (k) => client.get(k),
    mget: (keys) => client.mget(keys),
    pipelineSet(pairs) {
      const batch = new Batch(false); // non-atomic = pipeline
      for (const [k, v] of pairs) batch.set(k, v);
      return client.exec(batch, false); // raiseOnError=false: errors come back in place
    },
    async close() {
      client?.close();
    },
  };
}

/** resilis (this repo): CJS facade in ../lib/index.js over the napi binding. */
async function resilisAdapter({ url, tls }) {
  const resilis = require('../lib/index.js');
  const createRedisService = resilis.createRedisService ?? resilis.default?.createRedisService;
  if (typeof createRedisService !== 'function') throw new Error('lib/index.js exports no createRedisService');
  const service = createRedisService({ url, ...(tls ? { tls: { ca: tls.ca, servername: 'localhost' } } : {}) });
  const cache = resilis.createRedisCacheService({ service });
  return {
    name: 'resilis',
    async connect() {
      if (!service.isConnected) await service.connect();
    },
    set: (k, v) => service.set(k, v),
    get: (k) => service.get(k),
    mget: (keys) => service.mget(keys),
    pipelineSet(pairs) {
      const cmds = new Array(pairs.length);
      for (let i = 0; i < pairs.length; i++) cmds[i] = { command: 'set', args: pairs[i] };
      return service.pipeline(cmds);
    },
    checkRateLimit: (k) => cache.checkRateLimit(k, RL_LIMIT_OPTIONS),
    getOrSet: (k) => cache.getOrSet(k, factory, PATTERN_PARAMS.getOrSetTtl),
    copies: async () => (await service.getStats()).copies,
    close: () => (typeof service.quit === 'function' ? service.quit() : service.disconnect()),
  };
}

/**
 * Adapter factories in table order, each called with { host, port, url, tls? }. ioredis is the ratio baseline.
 * `ioredis-ap` is ioredis with enableAutoPipelining: it runs only the rows CLIENT_ROWS gives it.
 */
export const CLIENTS = {
  resilis: resilisAdapter,
  ioredis: (server) => ioredisAdapter(server),
  'ioredis-ap': (server) => ioredisAdapter(server, { autoPipelining: true }),
  redis: nodeRedisAdapter,
  glide: glideAdapter,
};

/** Which rows a client runs when not all (by the row's calls in flight). */
export const CLIENT_ROWS = {
  'ioredis-ap': (wl) => wl.concurrency >= 256,
};

/** The labels the tables print. */
export const CLIENT_LABELS = {
  resilis: 'resilis',
  ioredis: 'ioredis 6',
  'ioredis-ap': 'ioredis 6 (enableAutoPipelining)',
  redis: 'node-redis 6',
  glide: 'valkey-glide 2.5',
};

export const BASELINE = 'ioredis';
