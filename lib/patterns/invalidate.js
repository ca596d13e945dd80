'use strict';
// invalidatePattern: SCAN ... MATCH ... COUNT and UNLINK in batches, never KEYS.

const V = require('./validate');
const { scanPages } = require('../nodes');

const SCAN_COUNT = 500;

/** Calls `onBatch(keys)` for every non-empty batch of keys matching `pattern` on every node
 * that holds keys (each master of a cluster: nodes.js scanPages). */
async function scanAll(service, pattern, onBatch) {
  for await (const keys of scanPages(service, { match: pattern, count: SCAN_COUNT })) {
    if (keys.length) await onBatch(keys);
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
