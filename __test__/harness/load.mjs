// Concurrent operation loops for fault tests: each operation gets a unique id, and every call is
// recorded as acknowledged or failed (with its start time), so loss and duplicates can be counted.
import { setTimeout as sleep } from 'node:timers/promises';
import { settleWithin } from './util.mjs';

/**
 * startLoad(op(id, worker) -> Promise, { concurrency = 8, pauseMs = 0, settleMs = 15000 }) ->
 *   { acked, errors, stop() -> Promise<{ acked, errors }> }
 * acked: [{ id, started, done, value }], errors: [{ id, started, done, code, message }].
 * A call that does not settle within settleMs counts as an error ('hang').
 */
export function startLoad(op, { concurrency = 8, pauseMs = 0, settleMs = 15000 } = {}) {
  let running = true;
  let seq = 0;
  const acked = [];
  const errors = [];
  const workers = Array.from({ length: concurrency }, async (_, worker) => {
    while (running) {
      const id = seq++;
      const started = Date.now();
      try {
        const value = await settleWithin(Promise.resolve().then(() => op(id, worker)), settleMs, `operation ${id}`);
        acked.push({ id, started, done: Date.now(), value });
      } catch (err) {
        errors.push({ id, started, done: Date.now(), code: err && err.code, message: String(err && err.message) });
      }
      await sleep(pauseMs);
    }
  });
  return {
    acked,
    errors,
    async stop() {
      running = false;
      await Promise.all(workers);
      return { acked, errors };
    },
  };
}

// The first few errors, for an assertion message.
export function describeErrors(errors, n = 5) {
  const kinds = {};
  for (const e of errors) kinds[`${e.code}: ${e.message}`.slice(0, 160)] = (kinds[`${e.code}: ${e.message}`.slice(0, 160)] || 0) + 1;
  return Object.entries(kinds).slice(0, n).map(([k, c]) => `${c}x ${k}`).join('\n');
}
