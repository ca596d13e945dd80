'use strict';
// getClient(): a node-redis (v5) view of the same service, for code and libraries written
// against node-redis (connect-redis, rate-limiter-flexible with useRedisPackage, rate-limit-redis):
// camelCase commands, v5's reply shapes (numbers where v4 had booleans, scan -> { cursor, keys },
// flat multi() results) and its option objects (set's { expiration, condition, GET }).
// Any other property falls through to the service (ioredis names stay reachable); a node-redis
// command method that neither has rejects with ERR_RESILIS_UNSUPPORTED naming it.

const { Multi } = require('./multi');
const { scanPages } = require('./nodes');
const { makeError } = require('./errors');

/** node-redis' multi(): exec() and execAsPipeline() resolve the replies themselves; an error
 * reply rejects the whole batch (node-redis' MultiErrorReply: `replies`, `errorIndexes`). */
class NodeRedisMulti extends Multi {
  async exec(execAsPipeline = false) {
    return flat(await this._run(execAsPipeline ? false : this._transaction));
  }

  async execAsPipeline() {
    return flat(await this._run(false));
  }
}

function flat(replies) {
  const errorIndexes = [];
  replies.forEach((r, i) => r instanceof Error && errorIndexes.push(i));
  if (errorIndexes.length === 0) return replies;
  const first = replies[errorIndexes[0]];
  const err = makeError(first.code || 'ERR_RESILIS_REPLY', `${errorIndexes.length} of ${replies.length} commands failed: ${first.message}`, 'yes');
  err.replies = replies;
  err.errorIndexes = errorIndexes;
  throw err;
}

function unsupported(method) {
  return () => Promise.reject(makeError('ERR_RESILIS_UNSUPPORTED',
    `getClient().${method}() is a node-redis command resilis does not offer; send it with sendCommand([...])`, 'no'));
}

/** scanIterator's and scan's options: node-redis spells them in capitals. */
function scanOptions(o = {}) {
  return { match: o.MATCH, count: o.COUNT, type: o.TYPE };
}

class NodeRedisClient {
  constructor(service) {
    this._service = service;
    return new Proxy(this, {
      get(target, prop) {
        if (prop in target) return target[prop];
        const value = service[prop];
        if (value !== undefined) return typeof value === 'function' ? value.bind(service) : value;
        // Only node-redis' command names: feature checks (`client.status`, `then`, ...) stay undefined.
        if (typeof prop === 'string' && require('./node-redis-commands').has(prop)) return unsupported(prop);
        return undefined;
      },
    });
  }

  /** Open until quit(), close() or destroy() (a lazy service is not open before its first use). */
  get isOpen() {
    const status = this._service.status;
    return status !== 'end' && status !== 'wait';
  }

  /** Commands are served now: connected, or memory mode by choice. */
  get isReady() {
    return this._service.status === 'ready';
  }

  async connect() {
    await this._service.connect();
    return this;
  }

  /** A client over a new service with the same options (`overrides` on top): its own connections. */
  duplicate(overrides) {
    return this._service.duplicate(overrides).getClient();
  }

  quit() {
    return this._service.quit();
  }

  /** node-redis v5: waits for pending commands, then closes. */
  async close() {
    await this._service.quit();
  }

  /** node-redis v5: closes at once (synchronously in node-redis; the connections close in the background here). */
  destroy() {
    this._service.disconnect().catch(() => {});
  }

  on(event, listener) {
    this._service.on(event, listener);
    return this;
  }

  once(event, listener) {
    this._service.once(event, listener);
    return this;
  }

  off(event, listener) {
    this._service.off(event, listener);
    return this;
  }

  /** node-redis: PING resolves 'PONG' (the service's ping() resolves a boolean). */
  ping(message) {
    return message === undefined ? this._service.call('PING') : this._service.call('PING', message);
  }

  multi() {
    return new NodeRedisMulti(this._service, true);
  }

  /** scan(cursor, { MATCH, COUNT, TYPE }) -> { cursor, keys } (node-redis v4 and v5). */
  async scan(cursor, options) {
    const [next, keys] = await this._service.scan(cursor, scanOptions(options));
    return { cursor: String(next), keys };
  }

  /** Yields an array of keys per SCAN reply (v5), over every master of a cluster. */
  async *scanIterator(options) {
    yield* scanPages(this._service, scanOptions(options));
  }

  // Pub/sub: the service takes node-redis' (channels, listener, bufferMode) as it is.
}

module.exports = { NodeRedisClient };
