'use strict';
// Chainable batches: `multi()` (MULTI/EXEC) and `pipeline()` without
// arguments (ioredis' chain form). exec() resolves [[err, result], ...].

const A = require('./args');

class Multi {
  constructor(service, transaction) {
    this._service = service;
    this._transaction = transaction;
    this._cmds = [];
    this._error = null;
  }

  /** Queue any command: multi().addCommand('set', ['k', 'v']). */
  addCommand(name, args = []) {
    try {
      this._cmds.push([name, A.flatten(args, name)]);
    } catch (err) {
      this._error = this._error || err;
    }
    return this;
  }

  get length() {
    return this._cmds.length;
  }

  async exec() {
    if (this._error) throw this._error;
    if (this._cmds.length === 0) return [];
    const results = await this._service._group(this._cmds, this._transaction);
    return results.map((r) => (r instanceof Error ? [r, null] : [null, r]));
  }

  /** node-redis' name for a non-atomic run of the same queue. */
  execAsPipeline() {
    return this._service._group(this._cmds, false);
  }
}

// Each queued command keeps the argument shaping of its RedisService method.
const SHAPED = {
  set: (key, value, ...rest) => A.setArgs(key, value, rest),
  hset: (key, ...rest) => A.hsetArgs(key, rest),
  hSet: (key, ...rest) => A.hsetArgs(key, rest),
  zadd: (key, ...rest) => A.zaddArgs(key, rest),
  zAdd: (key, ...rest) => A.zaddArgs(key, rest),
};

const NAMES = [
  'get', 'set', 'del', 'exists', 'expire', 'ttl', 'incr', 'incrby', 'decr', 'decrby', 'mget', 'mset', 'getdel',
  'hset', 'hget', 'hgetall', 'hdel', 'hincrby', 'lpush', 'rpush', 'lpop', 'rpop', 'lrange', 'ltrim', 'llen',
  'sadd', 'srem', 'smembers', 'sismember', 'scard', 'zadd', 'zrange', 'zrevrange', 'zscore', 'zrem', 'zcard',
  'zincrby', 'publish', 'eval', 'evalsha', 'pexpire', 'pttl', 'persist', 'type', 'append', 'strlen', 'ping',
];
const CAMEL = {
  incrBy: 'incrby', decrBy: 'decrby', hSet: 'hset', hGet: 'hget', hGetAll: 'hgetall', hDel: 'hdel',
  hIncrBy: 'hincrby', lPush: 'lpush', rPush: 'rpush', lPop: 'lpop', rPop: 'rpop', lRange: 'lrange',
  lTrim: 'ltrim', lLen: 'llen', sAdd: 'sadd', sRem: 'srem', sMembers: 'smembers', sIsMember: 'sismember',
  zAdd: 'zadd', zRange: 'zrange', zRevRange: 'zrevrange', zScore: 'zscore', zRem: 'zrem', mGet: 'mget', mSet: 'mset',
};

for (const name of [...NAMES, ...Object.keys(CAMEL)]) {
  const redisName = CAMEL[name] || name;
  const shape = SHAPED[name];
  Multi.prototype[name] = function (...args) {
    if (!shape) return this.addCommand(redisName, args);
    try {
      this._cmds.push([redisName, shape(...args)]);
    } catch (err) {
      this._error = this._error || err;
    }
    return this;
  };
}

module.exports = { Multi };
