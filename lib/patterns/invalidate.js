'use strict';
// invalidatePattern: SCAN ... MATCH ... COUNT and UNLINK in batches, never KEYS.

const V = require('./validate');

const SCAN_COUNT = 500;

/**
 * Calls `onBatch(keys, node)` for every batch of keys matching `pattern` on every node that
 * holds keys: each master of a cluster when the service offers `scanNodes()` (the services
 * it returns scan one node each), else the service itself. The one place to change for
 * per-master scanning.
 */
async function scanAll(service, pattern, onBatch) {
  const nodes = typeof service.scanNodes === 'function' ? await service.scanNodes() : [service];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, { match: pattern, count: SCAN_COUNT });
      cursor = String(next);
      if (keys.length) await onBatch(keys, node);
    } while (cursor !== '0');
  }
}

/** Unlinks the keys of one batch; resolves how many existed. In a cluster the core splits a
 * cross-slot UNLINK into one command per slot and sums the counts. */
async function unlinkBatch(service, keys) {
  return Number(await service.unlink(keys));
}

async function invalidatePattern(service, pattern) {
  V.key(pattern, 'invalidatePattern: pattern');
  let deleted = 0;
  await scanAll(service, pattern, async (keys) => {
    deleted += await unlinkBatch(service, keys);
  });
  return deleted;
}

module.exports = { scanAll, invalidatePattern, SCAN_COUNT };
