'use strict';
// RedisService: the public class. Commands are installed from commands.js;
// this file holds construction, lifecycle, batches, health and stats.

const { EventEmitter } = require('events');
const { NativeService, FLAG_BUFFERS } = require('../binding.js');
const { Dispatcher } = require('./dispatcher');
const { fromNativeThrow, argumentError } = require('./errors');
const { install, pairsToObject } = require('./commands');
const { Multi } = require('./multi');
const { installNodes, clusterNodes, topologyReport } = require('./nodes');
const { installPubSub, watchMessageListeners } = require('./pubsub');
const A = require('./args');
const { makeLogger, logEvent } = require('./logger');

// Facade-only options: objects of functions the core never sees.
const { Observer } = require('./observe');

let nextClientId = 0;

const FACADE_OPTIONS = new Set(['logger', 'audit', 'trace']);

const ENV_PREFIXES = ['REDIS_', 'UPSTASH_', 'NODE_ENV'];

function redisEnv() {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && ENV_PREFIXES.some((p) => k.startsWith(p))) out[k] = v;
  }
  return out;
}

/** Options as JSON; PEM Buffers become strings, functions are dropped. */
function optionsJson(options) {
  if (options === undefined || options === null) return '{}';
  if (typeof options !== 'object') throw argumentError('options must be an object');
  return JSON.stringify(options, function (k, v) {
    if (this === options && FACADE_OPTIONS.has(k)) return undefined;
    if (v && v.type === 'Buffer' && Array.isArray(v.data)) return Buffer.from(v.data).toString('utf8');
    return typeof v === 'function' ? undefined : v;
  });
}

// The core's lifecycle events, as ioredis' status.
const STATUS_OF_EVENT = { connect: 'ready', ready: 'ready', reconnecting: 'reconnecting', end: 'end' };

function parseInfo(text) {
  const out = {};
  for (const line of String(text || '').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

class RedisService extends EventEmitter {
  /** `env`: the REDIS_* / UPSTASH_* variables to read (process.env's by default; duplicate() passes its own). */
  constructor(options = {}, env = redisEnv()) {
    super();
    let native;
    const onWake = (results, status, value) => this._dispatcher.onWake(results, status, value);
    try {
      native = new NativeService(optionsJson(options), env, onWake);
    } catch (err) {
      throw fromNativeThrow(err);
    }
    this._native = native;
    /** The options this service was made with (ioredis' `options`; duplicate() reuses them). */
    this.options = { ...options };
    this._env = env;
    /** The one place resilis prints (lib/logger.js). */
    this.logger = makeLogger(options, env);
    this._dispatcher = new Dispatcher(native);
    this._dispatcher.onEvent = (name, payload) => this._onNativeEvent(name, payload);
    this._observer = new Observer(options, () => this._traceMeta(), this.logger);
    this._dispatcher.observer = this._observer;
    this._dispatcher.onMessage = (message) => {
      if (this._subs) this._subs.deliver(message);
    };
    watchMessageListeners(this);
    this.circuitBreaker = { getMetrics: (name) => this.getCircuitBreakerMetrics(name) };
    this._info = JSON.parse(native.describe());
    if (this._info.enabled === false) {
      this.logger.info({ event: 'memoryMode', enabled: false }, 'REDIS_ENABLED=false: serving every command from the in-memory store (data is per process)');
    }
    this._status = this._info.lazyConnect ? 'wait' : 'connecting';
    if (this._info.mode === 'cluster') this.nodes = clusterNodes;
    if (this._info.nearCache) require('./near-cache').installNearCache(this);
    if (!this._info.lazyConnect) {
      this.connect().catch((err) => {
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
    }
  }

  _send(name, args, buffers = false) {
    return this._dispatcher.send(name, args, buffers ? FLAG_BUFFERS : 0);
  }

  _group(cmds, transaction, buffers = false) {
    return this._dispatcher.sendGroup(cmds, transaction, buffers ? FLAG_BUFFERS : 0);
  }

  /** `connect` and `ready` are emitted by the core when a connection is made. */
  async connect() {
    if (this._status !== 'ready') this._status = 'connecting';
    await this._dispatcher.lifecycle('connect');
  }

  async disconnect() {
    // Subscriptions end with the subscriber connection (and stop keeping the process alive).
    if (this._subs) this._subs.reset();
    await this._dispatcher.lifecycle('disconnect');
    this._status = 'end';
  }

  /** A new service with the same configuration (options, `overrides` on top, and the environment
   * this one read) and connections of its own: what a subscriber or a blocking command needs. */
  duplicate(overrides) {
    return new this.constructor({ ...this.options, ...overrides }, this._env);
  }

  /** Core events arrive with the results; `error` is only emitted when
   * someone listens (an unheard `error` would crash the process). */
  _onNativeEvent(name, payloadJson) {
    // A connection attempt: for the resilis:connect tracing channel only, parsed only when watched.
    if (name === 'connection') {
      if (this._observer.watchingConnects()) this._observer.connection(JSON.parse(payloadJson));
      return;
    }
    let payload;
    try {
      payload = JSON.parse(payloadJson);
    } catch {
      payload = null;
    }
    logEvent(this.logger, name, payload);
    if (STATUS_OF_EVENT[name]) this._status = STATUS_OF_EVENT[name];
    if (name === 'error') {
      if (this.listenerCount('error') === 0) return;
      const { makeError } = require('./errors');
      payload = makeError(payload && payload.code, payload && payload.message, 'unknown');
    }
    if (payload === null) this.emit(name);
    else this.emit(name, payload);
  }

  /** Metrics of one operation's breaker (`'redis-get'`, ...), opossum's shape. */
  getCircuitBreakerMetrics(name) {
    if (name === undefined) return JSON.parse(this._native.stats()).circuitBreakers;
    const m = JSON.parse(this._native.breakerMetrics(String(name)));
    return m || { state: 'closed', requests: 0, failures: 0, successes: 0, rejects: 0, timeouts: 0, fallbacks: 0 };
  }

  /** The in-memory fallback store: `{ size, calculatedSize, itemCount, maxSize, hits, misses, evictions }`. */
  getFallbackCacheStats() {
    return JSON.parse(this._native.fallbackStats());
  }

  async quit() {
    await this.disconnect();
    return 'OK';
  }

  get isConnected() {
    return this._native.isConnected;
  }

  /** ioredis' status: 'wait' (lazy, not yet used), 'connecting', 'ready', 'reconnecting' or 'end'.
   * Memory mode by choice (`enabled: false`) is 'ready': every command is served. */
  get status() {
    if (this._status === 'end') return 'end';
    if (this.isConnected || this._info.enabled === false) return 'ready';
    return this._status === 'ready' ? 'reconnecting' : this._status;
  }

  /** ioredis' flag: true on a Cluster client (libraries branch on it, e.g. BullMQ's key prefixes). */
  get isCluster() {
    return this._info.mode === 'cluster';
  }

  /** Writable as in ioredis: BullMQ sets 'end' after its own quit(). */
  set status(value) {
    this._status = value;
  }

  /** pipeline([{ command, args }]) -> replies in order; an error reply stands as an Error. */
  pipeline(commands) {
    if (commands === undefined) return new Multi(this, false);
    if (!Array.isArray(commands)) return Promise.reject(argumentError('pipeline: expected an array of { command, args }'));
    try {
      const cmds = commands.map((c, i) => {
        if (!c || typeof c.command !== 'string') throw argumentError(`pipeline: entry ${i} needs a string \`command\``);
        return [c.command, A.flatten(c.args || [], c.command)];
      });
      if (cmds.length === 0) return Promise.resolve([]);
      return this._group(cmds, false);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** multi().set(..).incr(..).exec() -> [[err, result], ...] (ioredis style). */
  multi() {
    return new Multi(this, true);
  }

  /** A node-redis v5 style client over the same connections. */
  getClient() {
    if (!this._client) {
      const { NodeRedisClient } = require('./node-redis-client');
      this._client = new NodeRedisClient(this);
    }
    return this._client;
  }

  async healthCheck() {
    const started = process.hrtime.bigint();
    let healthy = false;
    let error;
    const topology = topologyReport(this);
    try {
      healthy = (await this._send('ping', [])) === 'PONG';
    } catch (err) {
      error = err;
    }
    const latency = Number(process.hrtime.bigint() - started) / 1e6;
    const info = JSON.parse(this._native.describe());
    const core = JSON.parse(this._native.stats());
    // Memory by choice (enabled: false) is healthy; memory because Redis
    // is unreachable (or a breaker is open) is degraded: the app runs, Redis does not.
    const degraded = (info.mode === 'memory' && info.enabled) || core.degraded;
    const open = Object.values(core.circuitBreakers).some((b) => b.state !== 'closed');
    const result = {
      healthy: healthy && !degraded,
      status: degraded ? 'degraded' : healthy ? 'connected' : 'disconnected',
      latency: Math.round(latency * 1000) / 1000,
      provider: info.provider,
      host: info.host,
      port: info.port,
      mode: info.mode,
      circuit: core.degraded || open ? 'open' : 'closed',
      topology: await topology,
    };
    // A cluster that says it is not ok (slots uncovered) cannot serve every key.
    const clusterState = result.topology.clusterState;
    if (result.healthy && clusterState !== undefined && clusterState !== 'ok') {
      result.healthy = false;
      result.status = 'degraded';
      result.error = `the cluster state is ${clusterState}`;
    }
    if (error) result.error = error.message;
    else if (core.degraded) result.error = 'Redis is unreachable; serving from the in-memory fallback';
    return result;
  }

  async getStats() {
    const base = JSON.parse(this._native.describe());
    const topology = topologyReport(this);
    const stats = {
      connected: this.isConnected,
      connectionAttempts: base.connectionAttempts,
      memoryUsage: null,
      connectedClients: null,
      uptime: null,
      mode: base.mode,
      provider: base.provider,
      host: base.host,
    };
    const core = JSON.parse(this._native.stats());
    Object.assign(stats, {
      degraded: core.degraded,
      commands: core.commands,
      errors: core.errors,
      timeouts: core.timeouts,
      fallbacks: core.fallbacks,
      latency: { p50: core.latencyP50, p99: core.latencyP99 },
      replay: core.journal,
      circuitBreakers: core.circuitBreakers,
      copies: core.copies,
      lanes: core.lanes,
      compression: core.compression,
      fallbackCache: this.getFallbackCacheStats(),
      auditDropped: this._observer.auditDropped,
      nearCache: core.nearCache && this._nearCacheCopyHits
        ? { ...core.nearCache, hits: core.nearCache.hits + this._nearCacheCopyHits() }
        : core.nearCache,
    });
    try {
      const info = parseInfo(await this._send('info', []));
      stats.memoryUsage = info.used_memory_human || null;
      stats.connectedClients = info.connected_clients ? Number(info.connected_clients) : null;
      stats.uptime = info.uptime_in_seconds ? Number(info.uptime_in_seconds) : null;
      stats.connected = this.isConnected;
    } catch (err) {
      stats.error = err.message;
    }
    stats.topology = await topology;
    return stats;
  }

  /** What every trace context carries about this service (lib/observe.js). */
  _traceMeta() {
    if (this._traceMetaCache) return this._traceMetaCache;
    const i = this._info;
    this._traceMetaCache = {
      serverAddress: i.host,
      serverPort: i.port,
      database: i.db || 0,
      topology: i.mode,
      clientId: String((nextClientId += 1)),
    };
    return this._traceMetaCache;
  }

  /** Prometheus text exposition format (lib/metrics.js); no Redis round trip. */
  async metrics() {
    return require('./metrics').metricsText(this);
  }

  /** Test hook: forces a panic inside the addon; it must reject, not crash. */
  _debugPanic() {
    return this._dispatcher.lifecycle('_debugPanic');
  }
}

install(RedisService.prototype);
installNodes(RedisService.prototype);
installPubSub(RedisService.prototype);

module.exports = { RedisService, pairsToObject };
