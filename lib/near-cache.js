'use strict';
// The near cache's JS fast path: a GET that hits is answered by one
// synchronous native lookup, with no batch, no I/O and no thread hop.
// Misses, and every GET while commands of this tick are still queued (a
// write among them must reach Redis first), take the normal path.
//
// Hits resolve without touching the event loop, so a loop of awaited hits
// would starve timers and I/O: after HITS_PER_TURN hits in one turn of the
// loop, further hits are resolved together from one setImmediate.

const HITS_PER_TURN = 4096;

function installNearCache(service) {
  const nearGet = service._native.nearGetFunction();
  const dispatcher = service._dispatcher;
  const sendGet = service.get;
  let budget = HITS_PER_TURN;
  let deferred = null; // [resolve, value, ...] waiting for the next turn
  const nextTurn = () => {
    const settle = deferred;
    deferred = null;
    budget = HITS_PER_TURN;
    for (let i = 0; i < settle.length; i += 2) settle[i](settle[i + 1]);
  };
  service.get = function get(key) {
    if (typeof key === 'string' && dispatcher.batch.length === 0) {
      const hit = nearGet(key);
      if (hit !== undefined) {
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
