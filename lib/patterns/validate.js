'use strict';
// Argument checks shared by the patterns: bad input throws ERR_RESILIS_ARGUMENT with a
// message naming the argument and what it must be.

const { argumentError } = require('../errors');

function key(value, what) {
  if (typeof value !== 'string' || value.length === 0) {
    throw argumentError(`${what} must be a non-empty string, got ${describe(value)}`);
  }
  return value;
}

function positive(value, what) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw argumentError(`${what} must be a positive number, got ${describe(value)}`);
  }
  return value;
}

function positiveInt(value, what) {
  if (!Number.isInteger(value) || value <= 0) {
    throw argumentError(`${what} must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function nonNegative(value, what) {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw argumentError(`${what} must be a number >= 0, got ${describe(value)}`);
  }
  return value;
}

/** `undefined` stays undefined; anything else must be a positive number. */
function optionalPositive(value, what) {
  return value === undefined ? undefined : positive(value, what);
}

function fn(value, what) {
  if (typeof value !== 'function') throw argumentError(`${what} must be a function, got ${describe(value)}`);
  return value;
}

function options(value, what) {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw argumentError(`${what} must be an object, got ${describe(value)}`);
  }
  return value;
}

function describe(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return v.length === 0 ? 'an empty string' : `the string ${JSON.stringify(v.slice(0, 40))}`;
  if (typeof v === 'number') return String(v);
  return typeof v;
}

module.exports = { key, positive, positiveInt, nonNegative, optionalPositive, fn, options };
