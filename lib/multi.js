'use strict';
// Chainable batches: `multi()` (MULTI/EXEC) and `pipeline()` without
// arguments (ioredis' chain form). exec() resolves [[err, result], ...].
// getClient()'s node-redis batch (flat results) extends this class.

const A = require('./args');
const { CAMEL, TABLE, pairsToObject } = require('./commands');
const { scriptLoad } = require('./nodes');

class Multi {
  constructor(service, transaction) {
    this._service = service;
    this._transaction = transaction;
    this._cmds = [];
    /** Per queued command: how its reply is shaped (as its RedisService method shapes it), or null. */
    this._shapes = [];
    this._error = null;
    /** The defineCommand scripts queued: loaded before the batch runs (a NOSCRIPT inside MULTI cannot be retried). */
    this._scripts = new Set();
    if (service._defined) for (const [name, d] of service._defined) this[name] = (...args) => this._queueScript(d, args);
  }

  _queueScript({ script, split }, args) {
    try {
      const [keys, argv] = split(args);
      this._scripts.add(script);
      this._queue('evalsha', [script.sha, keys.length, ...keys, ...argv]);
    } catch (err) {
      this._error = this._error || err;
    }
    return this;
  }

  /** Queue any command: multi().addCommand('set', ['k', 'v']). */
  addCommand(name, args = []) {
    try {
      this._queue(name, A.flatten(args, name));
    } catch (err) {
      this._error = this._error || err;
    }
    return this;
  }

  _queue(name, args) {
    this._cmds.push([name, args]);
    this._shapes.push(REPLY_SHAPES[name] || null);
  }

  get length() {
    return this._cmds.length;
  }

  /** The replies in order, an error reply standing as an Error in its slot. */
  async _run(transaction) {
    if (this._error) throw this._error;
    if (this._cmds.length === 0) return [];
    await Promise.all([...this._scripts].map((s) => scriptLoad(this._service, ['LOAD', s.source])));
    const results = await this._service._group(this._cmds, transaction);
    return results.map((r, i) => (r instanceof Error || !this._shapes[i] ? r : this._shapes[i](r)));
  }

  async exec() {
    return (await this._run(this._transaction)).map((r) => (r instanceof Error ? [r, null] : [null, r]));
  }

  /** node-redis' name for a non-atomic run of the same queue. */
  execAsPipeline() {
    return this._run(false);
  }
}

// Each queued command keeps the argument shaping of its RedisService method (by Redis name).
const SHAPED = {
  set: (key, value, ...rest) => A.setArgs(key, value, rest),
  hset: (key, ...rest) => A.hsetArgs(key, rest),
  zadd: (key, ...rest) => A.zaddArgs(key, rest),
  eval: (script, ...rest) => A.evalArgs(script, rest, 'eval'),
  evalsha: (sha, ...rest) => A.evalArgs(sha, rest, 'evalsha'),
};
const REPLY_SHAPES = { hgetall: pairsToObject };

// Every command the service offers as a method (the command table's `method` rows).
const NAMES = TABLE.filter((c) => c.method).map((c) => c.name);

for (const name of [...NAMES, ...Object.keys(CAMEL)]) {
  const redisName = CAMEL[name] || name;
  const shape = SHAPED[redisName];
  Multi.prototype[name] = function (...args) {
    if (!shape) return this.addCommand(redisName, args);
    try {
      this._queue(redisName, shape(...args));
    } catch (err) {
      this._error = this._error || err;
    }
    return this;
  };
}

module.exports = { Multi };
