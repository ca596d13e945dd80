'use strict';
// Lua scripts, run with EVALSHA and re-sent with EVAL when the server answers NOSCRIPT (first
// use, SCRIPT FLUSH, a failover to a replica that never saw the script): the patterns' (read
// once from ./lua at load) and those of defineCommand (commands.js).

const fs = require('fs');
const path = require('path');
const { sha1Hex } = require('./random');

/** A script `{ name, source, sha }`; the digest is taken on first use (see random.js on why crypto loads late). */
function script(name, source) {
  let sha;
  return { name, source, get sha() { return (sha ??= sha1Hex(source)); } };
}

function load(name) {
  return script(name, fs.readFileSync(path.join(__dirname, 'lua', `${name}.lua`), 'utf8'));
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

/** Runs `script` with KEYS `keys` and ARGV `args` on `service` (EVALSHA, then EVAL on NOSCRIPT:
 * the script did not run, so sending it again is safe). `buffers`: the reply's strings as Buffers. */
async function runScript(service, script, keys, args, { buffers = false } = {}) {
  try {
    return await service[buffers ? 'evalshaBuffer' : 'evalsha'](script.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!isNoScript(err)) throw err;
    return service[buffers ? 'evalBuffer' : 'eval'](script.source, keys.length, ...keys, ...args);
  }
}

module.exports = { SCRIPTS, script, runScript, isNoScript };
