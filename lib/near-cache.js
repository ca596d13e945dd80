'use strict';
// The near cache's JS fast path. A GET hit costs no native call at all:
// values already read are kept in a Map here, valid while the native
// near cache's epoch (a Uint32Array over native memory) is unchanged. The
// epoch moves on every invalidation, flush, lost connection and TTL tick
// (see src/core/near_cache.rs), and the Map is then dropped whole.
// Otherwise a hit is one synchronous native lookup (`nearGet`): no batch,
// no I/O, no thread hop. Misses, and every GET while commands of this tick
// are still queued (a write among them must reach Redis first), take the
// normal path.
//
// Hits resolve without touching the event loop, so a loop of awaited hits
// would starve timers and I/O: after HITS_PER_TURN hits in one turn of the
// loop, further hits are resolved together from one setImmediate.

const HITS_PER_TURN = 4096;
// The JS copies are bounded like the native cache (its byte budget, with
// string length standing in for bytes) and by count.
const MAX_COPIES = 65536;

function installNearCache(service) {
  const nearGet = service._native.nearGetFunction();
  const epochBuffer = service._native.nearEpoch();
  const epoch = epochBuffer ? new Uint32Array(epochBuffer) : null;
  const maxChars = Math.max(1024, Number(service._info.nearCacheMaxBytes) || 0);
  const dispatcher = service._dispatcher;
  const sendGet = service.get;
  let copies = new Map();
  let copiesEpoch = -1;
  let copiedChars = 0;
  let copyHits = 0; // hits answered here; the native counters never see them
  let budget = HITS_PER_TURN;
  let deferred = null; // [resolve, value, ...] waiting for the next turn
  const nextTurn = () => {
    const settle = deferred;
    deferred = null;
    budget = HITS_PER_TURN;
    for (let i = 0; i < settle.length; i += 2) settle[i](settle[i + 1]);
  };
  const lookup = (key) => {
    if (epoch === null) return nearGet(key);
    // Read the epoch before the native lookup: an invalidation after this
    // point moves it, and the copy below is never used.
    const now = epoch[0];
    if (now !== copiesEpoch) {
      if (copies.size > 0) copies = new Map();
      copiesEpoch = now;
      copiedChars = 0;
    }
    let hit = copies.get(key);
    if (hit !== undefined) {
      copyHits++;
      return hit;
    }
    hit = nearGet(key);
    if (hit !== undefined) {
      const chars = key.length + (hit === null ? 0 : hit.length) + 16;
      if (copies.size >= MAX_COPIES || copiedChars + chars > maxChars) {
        copies = new Map();
        copiedChars = 0;
      }
      copies.set(key, hit);
      copiedChars += chars;
    }
    return hit;
  };
  service._nearCacheCopyHits = () => copyHits;
  service.get = function get(key) {
    if (typeof key === 'string' && dispatcher.idle) {
      const hit = lookup(key);
      if (hit !== undefined) {
        if (dispatcher.observer !== null) dispatcher.observer.nearCacheHit(key, hit);
        if (budget > 0) {
          budget--;
          return Promise.resolve(hit);
        }
        if (deferred === null) {
          deferred = [];
          setImmediate(nextTurn);
        }
        return new Promise((resolve) => deferred.push(resolve, hit));
      }
    }
    return sendGet.call(this, key);
  };
}

module.exports = { installNearCache };
