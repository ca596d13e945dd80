'use strict';
// Random tokens for the patterns. `crypto` is required on first use, not at load:
// loading it costs about 8 ms of `require('resilis')`, and most processes never
// take a lock, a rate-limit slot or a queue id.

/** `bytes` random bytes as hex. */
function randomHex(bytes) {
  return require('crypto').randomBytes(bytes).toString('hex');
}

function randomUUID() {
  return require('crypto').randomUUID();
}

/** SHA-1 of a script's source, as EVALSHA wants it. */
function sha1Hex(text) {
  return require('crypto').createHash('sha1').update(text).digest('hex');
}

module.exports = { randomHex, randomUUID, sha1Hex };
