'use strict';
// getOrSet: cache-aside with stampede protection.
// - In this process, concurrent callers for one key share one in-flight promise: one GET,
//   at most one factory call; a factory error reaches every waiter and nothing is cached.
// - With { lock }, processes missing together also call the factory once: the first takes a
//   short lock (SET NX PX), the others poll the key until the value appears or `waitMs`
//   passes, then call the factory themselves. The lock is released with compare-and-delete.
// - While Redis is down, the factory is called and its value returned uncached.

const { randomHex } = require('./random');
const V = require('./validate');
const { encode, decode } = require('./json');
const { SCRIPTS, runScript } = require('./scripts');
const { isOutage } = require('./outage');

const DEFAULT_LOCK = { ttlMs: 10000, waitMs: 10000 };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function lockOptions(lock) {
  if (!lock) return null;
  if (lock === true) return DEFAULT_LOCK;
  V.options(lock, 'getOrSet: options.lock');
  const ttlMs = lock.ttlMs ?? DEFAULT_LOCK.ttlMs;
  const waitMs = lock.waitMs ?? ttlMs;
  V.positive(ttlMs, 'getOrSet: options.lock.ttlMs');
  V.nonNegative(waitMs, 'getOrSet: options.lock.waitMs');
  return { ttlMs: Math.ceil(ttlMs), waitMs };
}

class GetOrSet {
  /** options: { lockPrefix = 'getOrSet:lock:' } */
  constructor(service, options = {}) {
    this.service = service;
    this.lockPrefix = options.lockPrefix ?? 'getOrSet:lock:';
    this.inflight = new Map();
  }

  run(key, factory, ttlSeconds, options) {
    V.key(key, 'getOrSet: key');
    V.fn(factory, 'getOrSet: factory');
    V.optionalPositive(ttlSeconds, 'getOrSet: ttlSeconds');
    const lock = lockOptions(V.options(options, 'getOrSet: options').lock);
    const running = this.inflight.get(key);
    if (running) return running;
    const p = this._load(key, factory, ttlSeconds, lock).finally(() => this.inflight.delete(key));
    this.inflight.set(key, p);
    return p;
  }

  async _read(key) {
    try {
      return { raw: await this.service.get(key) };
    } catch (err) {
      if (isOutage(err)) return { raw: null, down: true };
      throw err;
    }
  }

  async _store(key, value, ttlSeconds) {
    if (value === undefined) return; // nothing to cache
    const text = encode(value, 'getOrSet: the factory result');
    try {
      await (ttlSeconds ? this.service.set(key, text, { EX: Math.ceil(ttlSeconds) }) : this.service.set(key, text));
    } catch (err) {
      if (!isOutage(err)) throw err;
    }
  }

  async _load(key, factory, ttlSeconds, lock) {
    const first = await this._read(key);
    if (first.raw !== null) return decode(first.raw);
    if (first.down || !lock) return this._produce(key, factory, ttlSeconds, first.down);
    return this._loadLocked(key, factory, ttlSeconds, lock);
  }

  async _produce(key, factory, ttlSeconds, down = false) {
    const value = await factory();
    if (!down) await this._store(key, value, ttlSeconds);
    return value;
  }

  async _loadLocked(key, factory, ttlSeconds, { ttlMs, waitMs }) {
    const lockKey = this.lockPrefix + key;
    const token = randomHex(12);
    const deadline = Date.now() + waitMs;
    let delay = 10;
    for (;;) {
      let owned;
      try {
        owned = (await this.service.set(lockKey, token, { PX: ttlMs, NX: true })) === 'OK';
      } catch (err) {
        if (!isOutage(err)) throw err;
        return this._produce(key, factory, ttlSeconds, true);
      }
      if (owned) {
        try {
          // someone may have filled the key between our GET and our lock
          const again = await this._read(key);
          if (again.raw !== null) return decode(again.raw);
          return await this._produce(key, factory, ttlSeconds);
        } finally {
          await runScript(this.service, SCRIPTS.compareAndDelete, [lockKey], [token]).catch(() => 0);
        }
      }
      // Another process is loading: poll the key until its value appears, the lock goes
      // away without a value (that loader failed: try to take the lock) or waitMs passes.
      for (;;) {
        if (Date.now() >= deadline) return this._produce(key, factory, ttlSeconds);
        await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
        delay = Math.min(delay * 2, 100);
        const seen = await this._read(key);
        if (seen.raw !== null) return decode(seen.raw);
        if (seen.down) return this._produce(key, factory, ttlSeconds, true);
        if (!(await this.service.exists(lockKey).catch(() => 1))) break;
      }
    }
  }
}

module.exports = { GetOrSet };
