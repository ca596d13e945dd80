// Closed-loop load generator and statistics.
// `concurrency` async loops each await their own call, so exactly that many calls are in flight.
// A cell stops at the first of: duration elapsed, maxCalls issued, or a hard timeout (hung client).

const hr = process.hrtime.bigint;

/** Latency store: a preallocated Float64Array; once full it becomes a uniform reservoir sample (Algorithm R). */
class LatencySampler {
  constructor(capacity) {
    this.buf = new Float64Array(capacity);
    this.n = 0; // samples kept
    this.seen = 0; // samples offered
  }
  reset() {
    this.n = 0;
    this.seen = 0;
  }
  add(ms) {
    const seen = this.seen++;
    if (this.n < this.buf.length) {
      this.buf[this.n++] = ms;
    } else {
      const j = Math.floor(Math.random() * (seen + 1));
      if (j < this.buf.length) this.buf[j] = ms;
    }
  }
  /** Nearest-rank percentiles; sorts the kept samples in place. */
  percentiles(ps) {
    if (this.n === 0) return ps.map(() => null);
    const s = this.buf.subarray(0, this.n).sort();
    return ps.map((p) => s[Math.min(this.n - 1, Math.max(0, Math.ceil((p / 100) * this.n) - 1))]);
  }
}

const samplers = new Map();
function samplerFor(capacity) {
  let s = samplers.get(capacity);
  if (!s) samplers.set(capacity, (s = new LatencySampler(capacity)));
  s.reset();
  return s;
}

/** A reply counts as failed if it is an Error or (for batches) contains one. */
function failedIn(reply) {
  if (reply instanceof Error) return 1;
  if (Array.isArray(reply)) {
    let f = 0;
    for (let i = 0; i < reply.length; i++) if (reply[i] instanceof Error) f++;
    return f;
  }
  return 0;
}

/**
 * Drive `op(i)` (i = global call index) with `concurrency` loops for `durationMs`.
 * Returns raw counters; opsPerCall converts calls into reported ops (keys for MGET, commands for a pipeline).
 */
async function drive(op, { concurrency, durationMs, maxCalls, hardTimeoutMs, sampler }) {
  let issued = 0;
  let completed = 0;
  let failedCalls = 0;
  let failedSubOps = 0;
  let firstError = null;
  const deadline = hr() + BigInt(Math.round(durationMs * 1e6));

  async function loop() {
    for (;;) {
      const t0 = hr();
      if (t0 >= deadline || issued >= maxCalls) return;
      const i = issued++;
      try {
        const f = failedIn(await op(i));
        if (f) {
          failedSubOps += f;
          failedCalls++;
        }
      } catch (err) {
        failedCalls++;
        firstError ??= err;
      }
      completed++;
      if (sampler) sampler.add(Number(hr() - t0) / 1e6);
    }
  }

  const cpu0 = process.cpuUsage();
  const start = hr();
  const loops = [];
  for (let c = 0; c < concurrency; c++) loops.push(loop());
  let timer;
  const timedOut = await Promise.race([
    Promise.all(loops).then(() => false),
    new Promise((resolve) => {
      timer = setTimeout(() => resolve(true), durationMs + hardTimeoutMs);
    }),
  ]);
  clearTimeout(timer);
  const elapsedMs = Number(hr() - start) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  return {
    issued,
    completed,
    failedCalls,
    failedSubOps,
    firstError,
    timedOut,
    elapsedMs,
    cpuMs: (cpu.user + cpu.system) / 1000,
  };
}

/**
 * One measured cell: warmup (not recorded), then the timed run.
 * Returns { opsPerSec, p50Ms, p99Ms, cpuMsPer1kOps, calls, ops, errors, ... }.
 */
export async function measure(op, { concurrency, opsPerCall = 1, durationMs, warmupMs, maxCalls, hardTimeoutMs = 10_000, latencySamples = 200_000 }) {
  let warmupOps = 0;
  if (warmupMs > 0) {
    const w = await drive(op, { concurrency, durationMs: warmupMs, maxCalls, hardTimeoutMs, sampler: null });
    if (w.timedOut) return failedCell('timed out during warmup', w);
    warmupOps = w.completed * opsPerCall;
  }
  const sampler = samplerFor(latencySamples);
  const r = await drive(op, { concurrency, durationMs, maxCalls, hardTimeoutMs, sampler });
  if (r.timedOut) return failedCell(`timed out (${r.completed}/${r.issued} calls completed)`, r);
  const [p50Ms, p99Ms] = sampler.percentiles([50, 99]);
  const ops = r.completed * opsPerCall;
  return {
    opsPerSec: ops / (r.elapsedMs / 1000),
    p50Ms,
    p99Ms,
    cpuMsPer1kOps: ops > 0 ? r.cpuMs / (ops / 1000) : null,
    rssMB: process.memoryUsage().rss / 2 ** 20,
    calls: r.completed,
    ops,
    warmupOps,
    elapsedMs: r.elapsedMs,
    cpuMs: r.cpuMs,
    latencySamples: sampler.n,
    errors: r.failedCalls,
    failedSubOps: r.failedSubOps,
    firstError: r.firstError ? String(r.firstError.message ?? r.firstError) : null,
  };
}

function failedCell(reason, r) {
  return {
    failed: reason,
    calls: r.completed,
    errors: r.failedCalls,
    firstError: r.firstError ? String(r.firstError.message ?? r.firstError) : null,
  };
}

export function median(values) {
  const v = values.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

/** Median of each numeric metric across runs (each metric independently); failed runs are skipped. */
export function medianCell(runs) {
  const ok = runs.filter((r) => !r.failed);
  if (ok.length === 0) return { failed: runs[runs.length - 1]?.failed ?? 'no runs', errors: runs.reduce((a, r) => a + (r.errors ?? 0), 0), firstError: runs.find((r) => r.firstError)?.firstError ?? null };
  const keys = ['opsPerSec', 'p50Ms', 'p99Ms', 'cpuMsPer1kOps', 'rssMB'];
  const out = Object.fromEntries(keys.map((k) => [k, median(ok.map((r) => r[k]))]));
  out.errors = ok.reduce((a, r) => a + r.errors, 0);
  out.firstError = ok.find((r) => r.firstError)?.firstError ?? null;
  out.runsOk = ok.length;
  out.copiesPerOp = ok.find((r) => r.copiesPerOp)?.copiesPerOp;
  out.runsFailed = runs.length - ok.length;
  return out;
}
