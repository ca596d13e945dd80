'use strict';
// The command surface: which Redis command each method sends, how its
// arguments are shaped and how its reply is turned into what ioredis
// users expect. Installed on RedisService.prototype by service.js.

const A = require('./args');
const { argumentError } = require('./errors');
const { script, runScript } = require('./patterns/scripts');
const { scriptLoad, pubsubNumsub } = require('./nodes');
const { commandTable } = require('../binding.js');

/** [1, 'a', 2, 'b'] -> { 1: 'a', 2: 'b' } (HGETALL, CONFIG GET ...). */
function pairsToObject(reply) {
  const out = {};
  if (Array.isArray(reply)) for (let i = 0; i + 1 < reply.length; i += 2) out[reply[i]] = reply[i + 1];
  return out;
}

// The command table (src/core/commands.rs), read once: the commands the service offers as
// generated methods, each with how it takes its arguments.
const TABLE = commandTable();
const methods = (shape) => TABLE.filter((c) => c.method === shape).map((c) => c.name);
// `name key ...rest` sent unchanged (arrays flattened one level).
const KEYED = methods('keyed');
// Every argument a key: del('a', 'b') == del(['a', 'b']).
const MULTI_KEY = methods('keys');

// Blocking commands, arguments as ioredis takes them: blpop('a', 'b', 5) == blpop(['a', 'b'], 5).
// The core runs each on a connection of its own (src/core/blocking.rs).
const BLOCKING = methods('blocking');

// node-redis' camelCase names for table commands (naming only).
const CAMEL = {
  getDel: 'getdel', getSet: 'getset', incrBy: 'incrby', incrByFloat: 'incrbyfloat', decrBy: 'decrby',
  pExpire: 'pexpire', expireAt: 'expireat', pTTL: 'pttl',
  hSet: 'hset', hGet: 'hget', hGetAll: 'hgetall', hDel: 'hdel', hExists: 'hexists', hIncrBy: 'hincrby',
  hKeys: 'hkeys', hVals: 'hvals', hLen: 'hlen', hmGet: 'hmget', hMGet: 'hmget', hSetNX: 'hsetnx',
  lPush: 'lpush', rPush: 'rpush', lPop: 'lpop', rPop: 'rpop', lRange: 'lrange', lTrim: 'ltrim', lLen: 'llen',
  lIndex: 'lindex', lSet: 'lset', lRem: 'lrem',
  sAdd: 'sadd', sRem: 'srem', sMembers: 'smembers', sIsMember: 'sismember', sCard: 'scard', sPop: 'spop',
  sRandMember: 'srandmember',
  zAdd: 'zadd', zRange: 'zrange', zRevRange: 'zrevrange', zScore: 'zscore', zRem: 'zrem', zCard: 'zcard',
  zIncrBy: 'zincrby', zRank: 'zrank', zRevRank: 'zrevrank', zCount: 'zcount', zRangeByScore: 'zrangebyscore',
  mGet: 'mget', mSet: 'mset', sPublish: 'spublish', setNX: 'setnx', setEx: 'setex', evalSha: 'evalsha',
};

/** Installs `methods`; a bad argument rejects the promise (as in ioredis) instead of throwing. */
function rejectOnThrow(proto, methods) {
  for (const [name, fn] of Object.entries(methods)) {
    proto[name] = fn.constructor.name === 'AsyncFunction'
      ? fn
      : function (...args) {
        try {
          return fn.apply(this, args);
        } catch (err) {
          return Promise.reject(err);
        }
      };
  }
}

/** call() and callBuffer(): SCRIPT LOAD goes to every cluster master (rate-limit-redis loads its
 * script with it, then runs EVALSHA on the key's master), and PUBSUB NUMSUB sums every master's
 * count (@socket.io/redis-adapter counts its servers with it). */
function sendAny(service, command, args, buffers) {
  if (typeof command !== 'string' || command.length === 0) throw argumentError('call: command must be a non-empty string');
  const flat = A.flatten(args, command);
  if (/^script$/i.test(command) && /^load$/i.test(String(flat[0]))) return scriptLoad(service, flat, buffers);
  if (/^pubsub$/i.test(command) && /^numsub$/i.test(String(flat[0]))) return pubsubNumsub(service, flat, buffers);
  return service._send(command, flat, buffers);
}

/**
 * ioredis' defineCommand: adds `this[name](...keys, ...args)` and `this[name + 'Buffer']`
 * running `lua` by EVALSHA (EVAL once on NOSCRIPT), and `multi()[name]` / `pipeline()[name]`.
 * Without `numberOfKeys` the first argument is the number of keys. Arrays are flattened one
 * level, as in ioredis.
 */
function defineCommand(name, { numberOfKeys, lua } = {}) {
  if (typeof name !== 'string' || name.length === 0) throw argumentError('defineCommand: name must be a non-empty string');
  if (typeof lua !== 'string') throw argumentError(`defineCommand ${name}: lua must be a string`);
  if (numberOfKeys != null && !(Number.isInteger(numberOfKeys) && numberOfKeys >= 0)) {
    throw argumentError(`defineCommand ${name}: numberOfKeys must be a non-negative integer`);
  }
  const defined = script(name, lua);
  /** A call's arguments as [keys, argv]. */
  const split = (args) => {
    const flat = A.flattenScriptArgs(args, name);
    const n = numberOfKeys ?? Number(flat.shift());
    if (!(Number.isInteger(n) && n >= 0 && n <= flat.length)) {
      throw argumentError(`${name}: expected ${numberOfKeys ?? 'a number of'} keys, got ${flat.length} arguments`);
    }
    return [flat.slice(0, n), flat.slice(n)];
  };
  const run = (service, args, buffers) => runScript(service, defined, ...split(args), { buffers });
  const method = (buffers) => function (...args) {
    try {
      return run(this, args, buffers);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  this[name] = method(false);
  this[`${name}Buffer`] = method(true);
  // multi() and pipeline() offer it too (multi.js).
  (this._defined ??= new Map()).set(name, { script: defined, split });
}

function install(proto) {
  // The hottest methods (get, incr, hget, ...) build one argument array and
  // catch their own argument errors, so no wrapper sits on their path. The
  // methods below replace the generated ones whose arguments need shaping.
  for (const name of KEYED) {
    proto[name] = function (key, ...rest) {
      try {
        const args = rest.length === 0 ? [A.checkKey(key, name)] : [A.checkKey(key, name), ...A.flatten(rest, name)];
        return this._send(name, args);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  for (const name of [...MULTI_KEY, ...BLOCKING]) {
    proto[name] = function (...keys) {
      try {
        const flat = A.flatten(keys, name);
        if (flat.length === 0) throw argumentError(`${name}: at least one key is required`);
        return this._send(name, flat);
      } catch (err) {
        return Promise.reject(err);
      }
    };
  }
  rejectOnThrow(proto, {
    set(key, value, ...rest) {
      return this._send('set', A.setArgs(key, value, rest));
    },
    /** INFO [section ...]: the server's text, as ioredis returns it. */
    info(...sections) {
      return this._send('info', A.flatten(sections, 'info'));
    },
    /** CLIENT <subcommand> ...: client('SETNAME', 'worker'), client('LIST'), ... */
    client(...args) {
      if (args.length === 0) throw argumentError('client: a subcommand is required');
      return this._send('client', A.flatten(args, 'client'));
    },
    getBuffer(key) {
      return this._send('get', [A.checkKey(key, 'getBuffer')], true);
    },
    hset(key, ...rest) {
      return this._send('hset', A.hsetArgs(key, rest));
    },
    hmset(key, ...rest) {
      return this._send('hset', A.hsetArgs(key, rest)).then(() => 'OK');
    },
    async hgetall(key) {
      return pairsToObject(await this._send('hgetall', [A.checkKey(key, 'hgetall')]));
    },
    /** The values as Buffers (field names stay strings, as in ioredis). */
    async hgetallBuffer(key) {
      return pairsToObject(await this._send('hgetall', [A.checkKey(key, 'hgetallBuffer')], true));
    },
    zadd(key, ...rest) {
      return this._send('zadd', A.zaddArgs(key, rest));
    },
    scan(cursor, ...rest) {
      return this._send('scan', A.scanArgs(cursor, rest));
    },
    keys(pattern) {
      return this._send('keys', [A.checkValue(pattern, 'keys pattern')]);
    },
    /** A Buffer message is sent byte for byte. */
    publish(channel, message) {
      return this._send('publish', [A.checkKey(channel, 'publish'), A.checkValue(message, 'publish message')]);
    },
    /** Sharded pub/sub: in a cluster, the channel's slot picks the node. */
    spublish(channel, message) {
      return this._send('spublish', [A.checkKey(channel, 'spublish'), A.checkValue(message, 'spublish message')]);
    },
    eval(script, ...rest) {
      return this._send('eval', A.evalArgs(script, rest, 'eval'));
    },
    evalsha(sha, ...rest) {
      return this._send('evalsha', A.evalArgs(sha, rest, 'evalsha'));
    },
    evalBuffer(source, ...rest) {
      return this._send('eval', A.evalArgs(source, rest, 'evalBuffer'), true);
    },
    evalshaBuffer(sha, ...rest) {
      return this._send('evalsha', A.evalArgs(sha, rest, 'evalshaBuffer'), true);
    },
    /** mset({ k: v }, ttlSeconds?) or mset(k, v, k, v). TTL makes it one MULTI. */
    async mset(...rest) {
      let pairs;
      let ttl;
      if (rest[0] && typeof rest[0] === 'object' && !Array.isArray(rest[0]) && !Buffer.isBuffer(rest[0])) {
        const entries = rest[0] instanceof Map ? [...rest[0]] : Object.entries(rest[0]);
        pairs = [];
        for (const [k, v] of entries) pairs.push(k, A.checkValue(v, `mset value of ${k}`));
        ttl = rest[1];
      } else {
        pairs = A.flatten(rest, 'mset');
      }
      if (pairs.length === 0 || pairs.length % 2) throw argumentError('mset: needs key/value pairs');
      if (ttl === undefined || ttl === null) return this._send('mset', pairs);
      if (typeof ttl !== 'number' || !(ttl > 0)) throw argumentError('mset: ttl must be a positive number of seconds');
      const cmds = [['mset', pairs]];
      for (let i = 0; i < pairs.length; i += 2) cmds.push(['expire', [pairs[i], Math.ceil(ttl)]]);
      const results = await this._group(cmds, true);
      const failed = results.find((r) => r instanceof Error);
      if (failed) throw failed;
      return 'OK';
    },
    async ping(message) {
      try {
        const reply = await this._send('ping', message === undefined ? [] : [A.checkValue(message, 'ping message')]);
        return message === undefined ? reply === 'PONG' : reply;
      } catch (err) {
        if (err && err.code === 'ERR_RESILIS_ARGUMENT') throw err;
        return false;
      }
    },
    /** Any command: call('OBJECT', 'ENCODING', 'k'). */
    call(command, ...args) {
      return sendAny(this, command, args, false);
    },
    callBuffer(command, ...args) {
      return sendAny(this, command, args, true);
    },
    /** node-redis' sendCommand(['SET', 'k', 'v']) (libraries that detect node-redis by its
     * camelCase names, such as @socket.io/redis-adapter, call it on the service too). */
    sendCommand(args) {
      if (!Array.isArray(args) || args.length === 0) {
        throw argumentError('sendCommand: expected an array such as [\'GET\', \'key\']');
      }
      const [name, ...rest] = args;
      return sendAny(this, String(name), rest, false);
    },
  });
  // Thrown, not rejected: a bad definition is a programming error at startup.
  proto.defineCommand = defineCommand;
  for (const [alias, target] of Object.entries(CAMEL)) {
    if (!proto[alias]) proto[alias] = proto[target];
  }
}

module.exports = { install, pairsToObject, CAMEL, TABLE, KEYED, MULTI_KEY, BLOCKING };
