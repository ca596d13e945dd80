'use strict';
// Pub/sub for RedisCacheService: callbacks get JSON messages decoded (strings that do not parse
// come as they are), over the service's subscriber (lib/pubsub.js). Each user callback is wrapped
// once per channel or pattern, so unsubscribe(channel, callback) finds its wrapper again.

const V = require('./validate');
const { decode } = require('./json');
const { argumentError } = require('../errors');

class PubSub {
  constructor(service) {
    this.service = service;
    /** 'c:<channel>' | 'p:<pattern>' -> Map(callback -> wrapper) */
    this.wrappers = new Map();
  }

  wrap(slot, callback) {
    let byFn = this.wrappers.get(slot);
    if (!byFn) this.wrappers.set(slot, (byFn = new Map()));
    let w = byFn.get(callback);
    if (!w) {
      w = slot.startsWith('p:')
        ? (message, channel, pattern) => callback(decode(message), channel, pattern)
        : (message, channel) => callback(decode(message), channel);
      byFn.set(callback, w);
    }
    return w;
  }

  /** The wrapper to remove (and forget), or undefined for "every listener". */
  unwrap(slot, callback) {
    const byFn = this.wrappers.get(slot);
    if (callback === undefined) {
      this.wrappers.delete(slot);
      return undefined;
    }
    const w = byFn && byFn.get(callback);
    if (byFn) byFn.delete(callback);
    if (byFn && byFn.size === 0) this.wrappers.delete(slot);
    return w || (() => {}); // an unknown callback removes nothing
  }

  /** prefix 'c' (channels) or 'p' (patterns); `method` the service's subscribe-family method. */
  on(prefix, method, name, callback) {
    V.key(name, `${method}: channel`);
    if (typeof callback !== 'function') throw argumentError(`${method}: callback must be a function`);
    return this.service[method](name, this.wrap(`${prefix}:${name}`, callback));
  }

  off(prefix, method, name, callback) {
    if (name === undefined) {
      for (const slot of [...this.wrappers.keys()]) if (slot.startsWith(`${prefix}:`)) this.wrappers.delete(slot);
      return this.service[method]();
    }
    V.key(name, `${method}: channel`);
    const w = this.unwrap(`${prefix}:${name}`, callback);
    return w ? this.service[method](name, w) : this.service[method](name);
  }

  subscribe(channel, callback) { return this.on('c', 'subscribe', channel, callback); }
  psubscribe(pattern, callback) { return this.on('p', 'psubscribe', pattern, callback); }
  unsubscribe(channel, callback) { return this.off('c', 'unsubscribe', channel, callback); }
  punsubscribe(pattern, callback) { return this.off('p', 'punsubscribe', pattern, callback); }
}

module.exports = { PubSub };
