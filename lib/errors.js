'use strict';
// Typed errors. The code crosses the boundary from Rust; the class is
// chosen from it here, so `err.code` and `instanceof` agree.

class ResilisError extends Error {
  constructor(code, message, sent) {
    super(message);
    this.name = 'ResilisError';
    this.code = code;
    if (sent !== undefined) this.sent = sent;
  }
}

class ResilisTypeError extends TypeError {
  constructor(message) {
    super(message);
    this.name = 'ResilisTypeError';
    this.code = 'ERR_RESILIS_ARGUMENT';
    this.sent = 'no';
  }
}

/** `sent`: 'no' (never ran), 'yes' (Redis replied) or 'unknown' (may have run). */
function makeError(code, message, sent) {
  if (code === 'ERR_RESILIS_ARGUMENT') return new ResilisTypeError(message);
  return new ResilisError(code, message, sent);
}

/** Errors thrown synchronously by the binding carry `CODE: message`. */
function fromNativeThrow(err) {
  const m = /^(ERR_RESILIS_[A-Z_]+): ([\s\S]*)$/.exec(err && err.message);
  if (!m) return err;
  return makeError(m[1], m[2], 'no');
}

function argumentError(message) {
  return new ResilisTypeError(message);
}

module.exports = { ResilisError, ResilisTypeError, makeError, fromNativeThrow, argumentError };
