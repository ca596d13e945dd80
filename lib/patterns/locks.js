'use strict';
// Distributed locks: acquire (one Lua step: take the lock if free and INCR its fencing
// counter), compare-and-delete release, compare-and-pexpire extend, and withLock, which
// keeps extending the lock at ttl/2 while the critical section runs.
//
// Tokens are "<fence>:<random>". The fence is a strictly increasing integer per lock name
// (it survives the lock's expiry: the counter key has no TTL), so a resource guarded by the
// lock can reject writes carrying a fence lower than one it has already seen. parseFence(token)
// reads it back. The lock and its counter share a hash tag, so they sit in one cluster slot:
// the lock for key `order:1` lives at `lock:{order:1}` and its counter at `lock:{order:1}:fence`.

const { randomHex } = require('./random');
const V = require('./validate');
const { SCRIPTS, runScript } = require('./scripts');
const { hashTagged } = require('./keys');
const { isMemoryModeError } = require('./outage');
const { ResilisError, argumentError } = require('../errors');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The fencing number of a token from acquireLock, or null when it is not such a token. */
function parseFence(token) {
  if (typeof token !== 'string') return null;
  const m = /^(\d+):/.exec(token);
  return m ? Number(m[1]) : null;
}

function ttlMs(ttlSeconds, what) {
  return Math.max(1, Math.ceil(V.positive(ttlSeconds, what) * 1000));
}

/**
 * The same three steps in process memory, used only when the service serves from its
 * in-memory store (REDIS_ENABLED=false, or the development fallback), which has no EVAL: there
 * the whole store is per process, so a per-process lock table is the same guarantee.
 */
class LocalLocks {
  constructor() {
    this.locks = new Map();
    this.fences = new Map();
  }

  _live(lockKey, token) {
    const cur = this.locks.get(lockKey);
    if (cur && cur.expires <= Date.now()) {
      this.locks.delete(lockKey);
      return null;
    }
    return cur && (token === undefined || cur.token === token) ? cur : null;
  }

  acquire(lockKey, fenceKey, random, ms) {
    if (this._live(lockKey)) return null;
    const fence = (this.fences.get(fenceKey) ?? 0) + 1;
    this.fences.set(fenceKey, fence);
    const token = `${fence}:${random}`;
    this.locks.set(lockKey, { token, expires: Date.now() + ms });
    return token;
  }

  release(lockKey, token) {
    if (!this._live(lockKey, token)) return 0;
    this.locks.delete(lockKey);
    return 1;
  }

  extend(lockKey, token, ms) {
    const cur = this._live(lockKey, token);
    if (!cur) return 0;
    cur.expires = Date.now() + ms;
    return 1;
  }
}

class Locks {
  /** options: { prefix = 'lock:' } */
  constructor(service, options = {}) {
    this.service = service;
    this.prefix = options.prefix ?? 'lock:';
    this.local = new LocalLocks();
  }

  /** Runs `script`; `local()` stands in while the service has no Redis behind it at all. */
  async _run(script, keys, args, local) {
    try {
      return await runScript(this.service, script, keys, args);
    } catch (err) {
      if (isMemoryModeError(err)) return local();
      throw err;
    }
  }

  keysOf(key) {
    const lockKey = this.prefix + hashTagged(V.key(key, 'lock key'));
    return { lockKey, fenceKey: `${lockKey}:fence` };
  }

  async acquire(key, ttlSeconds = 30) {
    const ms = ttlMs(ttlSeconds, 'acquireLock: ttlSeconds');
    const { lockKey, fenceKey } = this.keysOf(key);
    const random = randomHex(12);
    const token = await this._run(SCRIPTS.lockAcquire, [lockKey, fenceKey], [random, ms],
      () => this.local.acquire(lockKey, fenceKey, random, ms));
    return token ?? null;
  }

  async release(key, token) {
    V.key(token, 'releaseLock: token');
    const { lockKey } = this.keysOf(key);
    const reply = await this._run(SCRIPTS.compareAndDelete, [lockKey], [token], () => this.local.release(lockKey, token));
    return reply === 1;
  }

  async extend(key, token, ttlSeconds) {
    V.key(token, 'extendLock: token');
    const ms = ttlMs(ttlSeconds, 'extendLock: ttlSeconds');
    const { lockKey } = this.keysOf(key);
    const reply = await this._run(SCRIPTS.compareAndPexpire, [lockKey], [token, ms], () => this.local.extend(lockKey, token, ms));
    return reply === 1;
  }

  /**
   * withLock(key, fn, ttlSeconds) or withLock(key, fn, { ttl = 30, retries = 0, retryDelay = 100 }).
   * fn receives { token, fence, signal }; `signal` aborts if an extension finds the lock lost.
   * Rejects ERR_RESILIS_LOCKED when the lock stays taken after the retries.
   */
  async withLock(key, fn, options) {
    V.fn(fn, 'withLock: fn');
    const opts = typeof options === 'number' ? { ttl: options } : V.options(options, 'withLock: options');
    const ttl = opts.ttl ?? 30;
    const retries = opts.retries ?? 0;
    const retryDelay = opts.retryDelay ?? 100;
    V.positive(ttl, 'withLock: ttl (seconds)');
    if (!Number.isInteger(retries) || retries < 0) throw argumentError(`withLock: retries must be an integer >= 0, got ${retries}`);
    V.nonNegative(retryDelay, 'withLock: retryDelay (ms)');

    let token = null;
    for (let attempt = 0; token === null; attempt++) {
      token = await this.acquire(key, ttl);
      if (token !== null) break;
      if (attempt >= retries) {
        throw new ResilisError('ERR_RESILIS_LOCKED', `withLock: the lock "${key}" is held by someone else (tried ${attempt + 1} times)`, 'yes');
      }
      await sleep(retryDelay);
    }

    const controller = new AbortController();
    let timer = null;
    let stopped = false;
    const every = Math.max(1, Math.floor((ttl * 1000) / 2));
    const schedule = () => {
      timer = setTimeout(async () => {
        let kept = false;
        let error;
        try {
          kept = await this.extend(key, token, ttl);
        } catch (err) {
          error = err;
        }
        if (stopped) return;
        if (kept) schedule();
        else controller.abort(error ?? new ResilisError('ERR_RESILIS_LOCK_LOST', `withLock: the lock "${key}" was lost`));
      }, every);
    };
    schedule();
    try {
      return await fn({ token, fence: parseFence(token), signal: controller.signal });
    } finally {
      stopped = true;
      clearTimeout(timer);
      await this.release(key, token).catch(() => false);
    }
  }
}

module.exports = { Locks, parseFence };
