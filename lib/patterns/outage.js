'use strict';
// Is this error "Redis is not there" (as opposed to a bug or a bad reply)? The patterns
// degrade on these and only on these.

const OUTAGE_CODES = new Set([
  'ERR_RESILIS_CONNECTION',
  'ERR_RESILIS_TIMEOUT',
  'ERR_RESILIS_CLOSED',
  'ERR_RESILIS_CIRCUIT_OPEN',
  // Redis is away and the outage journal cannot take the write.
  'ERR_RESILIS_FALLBACK_FULL',
]);

// The in-memory store (REDIS_ENABLED=false, or the development fallback) answers the
// commands it cannot serve, EVAL among them, with this reply.
const MEMORY_ONLY = /not available while serving from memory/;

function isMemoryModeError(err) {
  return Boolean(err && err.code === 'ERR_RESILIS_REPLY' && MEMORY_ONLY.test(err.message));
}

function isOutage(err) {
  return Boolean(err && (OUTAGE_CODES.has(err.code) || isMemoryModeError(err)));
}

module.exports = { isOutage, isMemoryModeError, OUTAGE_CODES };
