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

/** An error the binding threw synchronously (it carries its `code`), as the typed class; it never ran. */
function fromNativeThrow(err) {
  if (!err || typeof err.code !== 'string' || !err.code.startsWith('ERR_RESILIS_')) return err;
  return makeError(err.code, err.message, 'no');
}

function argumentError(message) {
  return new ResilisTypeError(message);
}

module.exports = { ResilisError, ResilisTypeError, makeError, fromNativeThrow, argumentError };
