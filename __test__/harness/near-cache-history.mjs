// The near-cache property tests' model: every write's value is a fresh, increasing number, recorded with the
// moment its acknowledgement came back; a read is checked against that history. It must return a value that was
// written (possibly one still in flight), and never one older than the newest write acknowledged `boundMs` or
// more before the read began. Staleness is how long the value read had already been superseded by an
// acknowledged write when the read began (0 when it was the newest); its maximum is kept for the report.
// Each id (a key, or a key and a hash field) must have one writer at a time, so acknowledgements come in order.
import assert from 'node:assert/strict';

export function writeHistory({ boundMs = 200 } = {}) {
  const bound = BigInt(boundMs) * 1_000_000n;
  const acked = new Map(); // id -> [[ackTime, value], ...] in order
  const issued = new Set([0]);
  let next = 1;
  let maxStale = 0n;
  let reads = 0;

  const history = {
    boundMs,
    /** The value for a write about to be sent (a read may see it before its acknowledgement). */
    issue() {
      const v = next++;
      issued.add(v);
      return v;
    },
    /** A write of `value` to `id` was just acknowledged (0 for an id's initial value). */
    acked(id, value) {
      if (!acked.has(id)) acked.set(id, []);
      acked.get(id).push([process.hrtime.bigint(), value]);
    },
    /** Checks a read of `id`, begun at `started` (hrtime), that returned `reply`; returns the value read. */
    check(id, reply, started, what = id) {
      reads++;
      const got = Number(reply);
      assert.ok(typeof reply === 'string' && issued.has(got), `${what}: read ${JSON.stringify(reply)}, a value never written`);
      const superseded = acked.get(id).find(([, v]) => v > got);
      if (superseded && superseded[0] <= started) {
        const stale = started - superseded[0];
        if (stale > maxStale) maxStale = stale;
        assert.ok(stale < bound, `${what}: read ${got} at ${Number(stale) / 1e6} ms after ${superseded[1]} was acknowledged (bound ${boundMs} ms)`);
      }
      return got;
    },
    get reads() { return reads; },
    get maxStalenessMs() { return Number(maxStale) / 1e6; },
  };
  return history;
}
