// Helpers for the resilience specs (issue 4): bounded concurrent traffic whose every call is
// recorded with its outcome and duration, and a recorder of a service's events.
import { setTimeout as sleep } from 'node:timers/promises';

const HUNG = Symbol('hung');

/**
 * traffic(op(i) -> Promise, { concurrency = 16, maxOps = 20000, boundMs = 5000, pauseMs = 0 }) ->
 *   { calls, stop() -> Promise<summary> }
 * Runs op with `concurrency` calls in flight until stop() or maxOps calls (bounded either way).
 * Each call is recorded as { i, ms, ok, value } or { i, ms, ok: false, code, sent, message };
 * one that has not settled after boundMs is recorded as hung (and its worker moves on), and a
 * settlement arriving after that is counted in `lateSettled`.
 * summary: { total, ok, failed, hung, lateSettled, maxMs, codes: { code: n } }.
 */
export function traffic(op, { concurrency = 16, maxOps = 20000, boundMs = 5000, pauseMs = 0 } = {}) {
  let running = true;
  let next = 0;
  let lateSettled = 0;
  const calls = [];
  const worker = async () => {
    while (running && next < maxOps) {
      const i = next++;
      const started = Date.now();
      let timer;
      const call = Promise.resolve().then(() => op(i)).then(
        (value) => ({ ok: true, value }),
        (err) => ({ ok: false, code: err && err.code, sent: err && err.sent, message: String(err && err.message) }),
      );
      const guard = new Promise((resolve) => { timer = setTimeout(() => resolve(HUNG), boundMs); });
      const outcome = await Promise.race([call, guard]);
      clearTimeout(timer);
      const ms = Date.now() - started;
      if (outcome === HUNG) {
        calls.push({ i, ms, ok: false, hung: true, code: 'HUNG', message: `no settlement within ${boundMs} ms` });
        call.then(() => { lateSettled++; });
      } else {
        calls.push({ i, ms, ...outcome });
      }
      if (pauseMs) await sleep(pauseMs);
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    calls,
    async stop() {
      running = false;
      await Promise.all(workers);
      return summarize(calls, lateSettled);
    },
  };
}

function summarize(calls, lateSettled) {
  const codes = {};
  let ok = 0;
  let hung = 0;
  let maxMs = 0;
  for (const c of calls) {
    if (c.ok) ok++;
    else codes[c.code] = (codes[c.code] || 0) + 1;
    if (c.hung) hung++;
    maxMs = Math.max(maxMs, c.ms);
  }
  return { total: calls.length, ok, failed: calls.length - ok, hung, lateSettled, maxMs, codes };
}

// The first failures of `calls`, one line each, for assertion messages.
export function firstFailures(calls, n = 5) {
  return calls.filter((c) => !c.ok).slice(0, n).map((c) => `#${c.i} ${c.code} sent=${c.sent} ${c.message}`).join('\n');
}

/**
 * watchEvents(emitter, names) -> { count(name), args(name), has(name) }
 * Records every emission of the named events (an 'error' listener also keeps an unhandled
 * 'error' event from throwing).
 */
export function watchEvents(emitter, names) {
  const seen = new Map(names.map((n) => [n, []]));
  for (const name of names) emitter.on(name, (...args) => seen.get(name).push(args));
  return {
    count: (name) => seen.get(name).length,
    args: (name) => seen.get(name),
    has: (name) => seen.get(name).length > 0,
    summary: () => Object.fromEntries([...seen].map(([n, a]) => [n, a.length])),
  };
}

// MGET through redis-cli (an independent client), in chunks: '' stands for a missing key.
export async function mgetFromRedis(server, keys, chunk = 500) {
  const out = [];
  for (let i = 0; i < keys.length; i += chunk) {
    const part = keys.slice(i, i + chunk);
    const lines = (await server.cli('mget', ...part)).split('\n');
    out.push(...part.map((_, j) => lines[j] ?? ''));
  }
  return out;
}

// The first number in `obj` (nested objects included) under a key matching `re`, e.g. the
// replayed-writes count of getStats() wherever the core puts it; undefined when there is none.
export function numberAt(obj, re) {
  if (!obj || typeof obj !== 'object') return undefined;
  for (const [k, v] of Object.entries(obj)) if (re.test(k) && typeof v === 'number') return v;
  for (const v of Object.values(obj)) {
    const n = numberAt(v, re);
    if (n !== undefined) return n;
  }
  return undefined;
}

// Run fn and keep its value or its error, so one failed step does not hide the others.
export async function attempt(fn) {
  try {
    return { value: await fn() };
  } catch (error) {
    return { error };
  }
}
