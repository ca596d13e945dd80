// Small helpers shared by the specs.
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';

// A key name no other test (or earlier run) uses.
export function uniqueKey(label = 'k') {
  return `resilis-test:${label}:${process.pid}:${randomBytes(6).toString('hex')}`;
}

// Run fn; return the error it throws synchronously or the rejection of its promise.
// Fails the test when fn neither throws nor rejects.
export async function captureError(fn, what = 'call') {
  let value;
  try {
    value = await fn();
  } catch (err) {
    return err;
  }
  assert.fail(`${what} was expected to fail but resolved ${safeInspect(value)}`);
}

function safeInspect(v) {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

// Assert err is an Error carrying the stable resilis code.
export function assertCode(err, code, { type = Error } = {}) {
  assert.ok(err instanceof type, `expected ${type.name}, got ${err && err.constructor && err.constructor.name}: ${err && err.message}`);
  assert.equal(err.code, code, `expected code ${code}, got ${err.code} (message: ${err.message})`);
}

// Settle within a bound, so a hanging promise fails the test instead of hanging the run.
export function settleWithin(promise, ms, what = 'promise') {
  let timer;
  const guard = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

// Re-check `check` until it returns truthy (e.g. the server has processed a close), at most
// `ms`; resolves the last value so the caller asserts on it.
export async function eventually(check, ms = 5000, every = 50) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v || Date.now() > deadline) return v;
    await new Promise((r) => setTimeout(r, every));
  }
}
