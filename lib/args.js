'use strict';
// Argument shapes of ioredis and node-redis style calls turned into
// plain Redis argument lists. Values are checked here so a wrong type is a
// TypeError naming the argument, before anything crosses into Rust.

const { argumentError } = require('./errors');

function checkValue(v, what) {
  const t = typeof v;
  if (t === 'string' || t === 'number' || Buffer.isBuffer(v)) return v;
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (t === 'bigint') return String(v);
  throw argumentError(`${what} must be a string, number or Buffer (got ${v === null ? 'null' : t})`);
}

function checkKey(k, command) {
  const t = typeof k;
  if (t === 'string' || Buffer.isBuffer(k) || t === 'number') return k;
  throw argumentError(`${command}: key must be a string or Buffer (got ${k === null ? 'null' : t})`);
}

/** ioredis flattens one level of arrays: lpush(k, [a, b]) == lpush(k, a, b). `convert` is applied
 * to each value before it is checked. */
function flatten(args, command, convert) {
  const out = [];
  for (const a of args) {
    if (Array.isArray(a)) for (const x of a) out.push(checkValue(convert ? convert(x) : x, `${command} argument`));
    else out.push(checkValue(convert ? convert(a) : a, `${command} argument`));
  }
  return out;
}

/** ioredis' `toArg` for the values it sends: null and undefined as '', booleans as 'true'/'false'. */
const ioredisArg = (v) => (v === null || v === undefined ? '' : typeof v === 'boolean' ? String(v) : v);

/** A defined script's keys and arguments, converted as ioredis does: libraries written for
 * ioredis (BullMQ) pass undefined and booleans to their Lua scripts. */
function flattenScriptArgs(args, command) {
  return flatten(args, command, ioredisArg);
}

/** set's third argument: seconds, an options object, or ioredis tokens. */
function setArgs(key, value, rest) {
  const args = [checkKey(key, 'set'), checkValue(value, 'set value')];
  const [opt] = rest;
  if (opt === undefined || opt === null) return args;
  if (typeof opt === 'number') {
    if (!(opt > 0) || !Number.isFinite(opt)) throw argumentError(`set: ttl must be a positive number of seconds (got ${opt})`);
    args.push('EX', Math.ceil(opt));
    return args;
  }
  if (typeof opt === 'object' && !Buffer.isBuffer(opt)) {
    const o = opt;
    if (o.expiration !== undefined || o.condition !== undefined) return setArgsV5(args, o);
    const ex = o.EX ?? o.ex;
    const px = o.PX ?? o.px;
    const exat = o.EXAT ?? o.exat;
    const pxat = o.PXAT ?? o.pxat;
    if (ex !== undefined) args.push('EX', positive(ex, 'EX'));
    if (px !== undefined) args.push('PX', positive(px, 'PX'));
    if (exat !== undefined) args.push('EXAT', positive(exat, 'EXAT'));
    if (pxat !== undefined) args.push('PXAT', positive(pxat, 'PXAT'));
    if (o.NX || o.nx) args.push('NX');
    if (o.XX || o.xx) args.push('XX');
    if (o.KEEPTTL || o.keepTtl || o.keepttl) args.push('KEEPTTL');
    if (o.GET || o.get) args.push('GET');
    return args;
  }
  return args.concat(flatten(rest, 'set'));
}

const EXPIRATIONS = ['EX', 'PX', 'EXAT', 'PXAT'];
const CONDITIONS = ['NX', 'XX', 'IFEQ'];

/** node-redis v5: { expiration: { type, value } | 'KEEPTTL', condition: 'NX' | 'XX', GET }. */
function setArgsV5(args, o) {
  const e = o.expiration;
  const type = typeof e === 'string' ? e : e && e.type;
  if (type === 'KEEPTTL') args.push('KEEPTTL');
  else if (EXPIRATIONS.includes(type)) args.push(type, positive(e.value, type));
  else if (e !== undefined) throw argumentError(`set: expiration.type must be one of EX, PX, EXAT, PXAT, KEEPTTL (got ${String(type)})`);
  if (o.condition !== undefined) {
    if (!CONDITIONS.includes(o.condition)) throw argumentError(`set: condition must be NX, XX or IFEQ (got ${String(o.condition)})`);
    args.push(o.condition);
    if (o.condition === 'IFEQ') args.push(checkValue(o.matchValue, 'set matchValue'));
  } else if (o.NX) args.push('NX');
  else if (o.XX) args.push('XX');
  if (o.GET) args.push('GET');
  return args;
}

function positive(n, name) {
  if (typeof n !== 'number' || !(n > 0) || !Number.isFinite(n)) {
    throw argumentError(`set: ${name} must be a positive number (got ${String(n)})`);
  }
  return Math.ceil(n);
}

/** hset(key, field, value) | hset(key, { field: value }) | hset(key, [f, v, ...]). */
function hsetArgs(key, rest) {
  const args = [checkKey(key, 'hset')];
  if (rest.length === 1 && rest[0] && typeof rest[0] === 'object' && !Buffer.isBuffer(rest[0]) && !Array.isArray(rest[0])) {
    const entries = rest[0] instanceof Map ? [...rest[0]] : Object.entries(rest[0]);
    if (entries.length === 0) throw argumentError('hset: the record has no fields');
    for (const [f, v] of entries) args.push(f, checkValue(v, `hset field ${f}`));
    return args;
  }
  return args.concat(flatten(rest, 'hset'));
}

/** zadd(key, score, member, ...) | zAdd(key, [{ score, value }]) | zAdd(key, { score, value }). */
function zaddArgs(key, rest) {
  const args = [checkKey(key, 'zadd')];
  const first = rest[0];
  const members = Array.isArray(first) && first.length && typeof first[0] === 'object' && !Buffer.isBuffer(first[0])
    ? first
    : first && typeof first === 'object' && !Array.isArray(first) && !Buffer.isBuffer(first) && 'score' in first
      ? [first]
      : null;
  if (members) {
    for (const m of members) args.push(checkValue(m.score, 'zadd score'), checkValue(m.value ?? m.member, 'zadd member'));
    if (rest[1] && typeof rest[1] === 'object') {
      const o = rest[1];
      if (o.NX) args.splice(1, 0, 'NX');
      if (o.XX) args.splice(1, 0, 'XX');
    }
    return args;
  }
  return args.concat(flatten(rest, 'zadd'));
}

/** scan(cursor, { match, count, type }) or ioredis scan(cursor, 'MATCH', p, ...). */
function scanArgs(cursor, rest) {
  const args = [String(cursor ?? 0)];
  const [opt] = rest;
  if (opt && typeof opt === 'object') {
    if (opt.match ?? opt.MATCH) args.push('MATCH', opt.match ?? opt.MATCH);
    if (opt.count ?? opt.COUNT) args.push('COUNT', opt.count ?? opt.COUNT);
    if (opt.type ?? opt.TYPE) args.push('TYPE', opt.type ?? opt.TYPE);
    return args;
  }
  return args.concat(flatten(rest, 'scan'));
}

/** eval(script, numKeys, ...args) | eval(script, { keys, arguments }). */
function evalArgs(script, rest, command) {
  if (typeof script !== 'string' && !Buffer.isBuffer(script)) {
    throw argumentError(`${command}: script must be a string`);
  }
  const [second] = rest;
  if (second && typeof second === 'object' && !Array.isArray(second) && !Buffer.isBuffer(second)) {
    const keys = second.keys || [];
    const argv = second.arguments || second.args || [];
    return [script, keys.length, ...flatten(keys, command), ...flatten(argv, command)];
  }
  if (typeof second !== 'number' && typeof second !== 'string') {
    throw argumentError(`${command}: numKeys must be a number`);
  }
  return [script, ...flatten(rest, command)];
}

module.exports = {
  flattenScriptArgs, checkValue, checkKey, flatten, setArgs, hsetArgs, zaddArgs, scanArgs, evalArgs };
