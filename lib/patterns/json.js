'use strict';
// JSON values in V8: JSON.stringify on the way in, JSON.parse on the way out. Encoding in JS
// keeps one string crossing into Rust (the addon copies strings once anyway); a serde_json
// round trip would need the JS object walked by napi, which is slower than V8's own encoder.

const { argumentError } = require('../errors');

function encode(value, what = 'value') {
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') {
    throw argumentError(`${what} must be JSON-serializable, got ${typeof value}`);
  }
  let text;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw argumentError(`${what} is not JSON-serializable: ${err.message}`);
  }
  if (text === undefined) throw argumentError(`${what} must be JSON-serializable`);
  return text;
}

/** Raw reply -> value. A string that is not JSON (written by someone else) comes back as is. */
function decode(raw) {
  if (raw === null || raw === undefined) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

module.exports = { encode, decode };
