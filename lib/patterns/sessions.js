'use strict';
// Sessions: one JSON value per session id at `<prefix><id>` (prefix `session:` by default),
// with a TTL that touchSession slides.

const V = require('./validate');
const { encode, decode } = require('./json');

const DEFAULT_SESSION_TTL = 86400;

class Sessions {
  /** options: { prefix = 'session:', ttlSeconds = 86400 } */
  constructor(service, options = {}) {
    this.service = service;
    this.prefix = options.prefix ?? 'session:';
    this.ttlSeconds = options.ttlSeconds ?? DEFAULT_SESSION_TTL;
  }

  keyOf(id) {
    return this.prefix + V.key(id, 'session id');
  }

  ttl(ttlSeconds, what) {
    return Math.ceil(V.positive(ttlSeconds ?? this.ttlSeconds, what));
  }

  async set(id, data, ttlSeconds) {
    const key = this.keyOf(id);
    const ttl = this.ttl(ttlSeconds, 'setSession: ttlSeconds');
    await this.service.set(key, encode(data, 'setSession: data'), { EX: ttl });
    return true;
  }

  async get(id) {
    return decode(await this.service.get(this.keyOf(id)));
  }

  async delete(id) {
    return Number(await this.service.del(this.keyOf(id))) > 0;
  }

  /** Resets the session's TTL; resolves false when the session does not exist. */
  async touch(id, ttlSeconds) {
    const key = this.keyOf(id);
    const ttl = this.ttl(ttlSeconds, 'touchSession: ttlSeconds');
    return Number(await this.service.expire(key, ttl)) === 1;
  }
}

module.exports = { Sessions };
