'use strict';
// The Lua scripts of the patterns: read once from ./lua at load, run with EVALSHA and
// re-sent with EVAL when the server answers NOSCRIPT (first use, SCRIPT FLUSH, a failover
// to a replica that never saw the script).

const fs = require('fs');
const path = require('path');
const { sha1Hex } = require('./random');

function load(name) {
  const source = fs.readFileSync(path.join(__dirname, 'lua', `${name}.lua`), 'utf8');
  let sha;
  // The digest is taken on first use (see random.js on why crypto loads late).
  return { name, source, get sha() { return (sha ??= sha1Hex(source)); } };
}

const SCRIPTS = Object.freeze({
  compareAndDelete: load('compare-and-delete'),
  compareAndPexpire: load('compare-and-pexpire'),
  lockAcquire: load('lock-acquire'),
  rateLimitSliding: load('rate-limit-sliding'),
  rateLimitTokenBucket: load('rate-limit-token-bucket'),
  queueEnqueue: load('queue-enqueue'),
  queueDequeue: load('queue-dequeue'),
  queueAck: load('queue-ack'),
  queueNack: load('queue-nack'),
  queueRequeueStale: load('queue-requeue-stale'),
});

function isNoScript(err) {
  return Boolean(err && err.code === 'ERR_RESILIS_REPLY' && /^NOSCRIPT/.test(err.message));
}

/** Runs `script` with KEYS `keys` and ARGV `args` on `service` (EVALSHA, then EVAL on NOSCRIPT). */
async function runScript(service, script, keys, args) {
  try {
    return await service.evalsha(script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return service.eval(script.source, keys.length, ...keys, ...args);
  }
}

module.exports = { SCRIPTS, runScript, isNoScript };
