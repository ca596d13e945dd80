'use strict';
// The one place resilis prints: `options.logger` (pino, winston via an
// adapter, console, anything with debug/info/warn/error) or the default
// console line. Calls are pino-style: (fields, message). Level from
// `options.logLevel` or REDIS_LOG_LEVEL (debug|info|warn|error|silent; default info).
// Fields carry names, reasons and codes from the core, which never holds a secret in them.

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

function levelOf(options, env) {
  const raw = (options && options.logLevel) || (env && env.REDIS_LOG_LEVEL) || 'info';
  const level = LEVELS[String(raw).toLowerCase()];
  return level === undefined ? LEVELS.info : level;
}

const consoleLogger = {
  debug: (fields, msg) => console.debug(`[resilis] ${msg}`),
  info: (fields, msg) => console.info(`[resilis] ${msg}`),
  warn: (fields, msg) => console.warn(`[resilis] ${msg}`),
  error: (fields, msg) => console.error(`[resilis] ${msg}`),
};

/** A logger with debug/info/warn/error(fields, message) that filters by level. */
function makeLogger(options, env) {
  const target = (options && options.logger) || consoleLogger;
  const min = levelOf(options, env);
  const out = {};
  for (const name of ['debug', 'info', 'warn', 'error']) {
    const fn = typeof target[name] === 'function' ? target[name] : null;
    out[name] =
      fn && LEVELS[name] >= min
        ? (fields, msg) => {
            try {
              fn.call(target, fields, msg);
            } catch {
              // a failing logger must not break a command's path
            }
          }
        : () => {};
  }
  return out;
}

/** The core's events, as log lines (today's messages, now structured). */
function logEvent(log, name, payload) {
  const p = payload || {};
  switch (name) {
    case 'fallback':
      if (p.active) log.warn({ event: 'fallback', active: true, reason: p.reason }, `Redis unavailable (${p.reason}): serving from the in-memory fallback`);
      else log.info({ event: 'fallback', active: false }, 'Redis is back: outage writes replayed, serving from Redis again');
      break;
    case 'circuitOpen':
      log.warn({ event: 'circuitOpen', operation: p.name }, `circuit ${p.name} opened`);
      break;
    case 'circuitClose':
      log.info({ event: 'circuitClose', operation: p.name }, `circuit ${p.name} closed`);
      break;
    case 'fallbackFull':
      log.error({ event: 'fallbackFull', command: p.command, rejected: p.rejected }, String(p.message || 'the fallback is full'));
      break;
    case 'memoryMode':
      log.warn(
        { event: 'memoryMode', target: p.target, reason: p.reason },
        `no Redis reachable at ${p.target} (${p.reason}); serving from the in-memory store (development mode; set REDIS_ENABLED=true to fail instead)`,
      );
      break;
    case 'error':
      log.debug({ event: 'error', code: p.code }, String(p.message || ''));
      break;
    case 'reconnecting':
      log.debug({ event: 'reconnecting', reason: p.reason }, `reconnecting: ${p.reason}`);
      break;
    default:
      break;
  }
}

module.exports = { makeLogger, logEvent, LEVELS };
