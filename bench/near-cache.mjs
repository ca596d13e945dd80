// Rows for reads served by the near cache: resilis with `nearCache` on, GET of 100-byte values that are
// already cached (the hot-key case), 16 in flight, beside node-redis 6 with its own `clientSideCache` (the only
// peer with one) and ioredis 6's GET of the same keys, measured in the same place. Printed as its own table.
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';
import { CLIENTS } from './clients.mjs';

const require = createRequire(import.meta.url);

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:near:${i}`);
const VALUE = 'n'.repeat(100);

export const NEAR_WORKLOADS = [{ name: 'near-cache get 100B c16' }];

/** Returns [{ workload, client, cell }] for resilis (near cache), node-redis (clientSideCache) and ioredis. */
export async function measureNearCache({ redisBin, seconds, warmupMs, maxCalls, only }) {
  if (only && !only.some((s) => NEAR_WORKLOADS[0].name.includes(s))) return [];
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  const near = createRedisService({ url: server.url, nearCache: { maxSize: 16 * 1024 * 1024, ttl: 60_000 } });
  const ioredis = await CLIENTS.ioredis({ host: server.host, port: server.port, url: server.url });
  // node-redis 6's own client-side cache (RESP3 + CLIENT TRACKING, invalidated by the server's pushes).
  const { createClient } = await import('redis');
  const nodeRedis = createClient({ url: server.url, RESP: 3, clientSideCache: { maxEntries: 0, ttl: 0 } });
  nodeRedis.on('error', () => {});
  const out = [];
  try {
    await near.connect();
    await ioredis.connect();
    await nodeRedis.connect();
    for (const k of KEYS) await near.set(k, VALUE);
    for (let pass = 0; pass < 2; pass++) for (const k of KEYS) await near.get(k); // fill the near cache
    for (let pass = 0; pass < 2; pass++) for (const k of KEYS) await nodeRedis.get(k); // and node-redis' cache
    const runs = [
      ['resilis (near cache)', (i) => near.get(KEYS[i % KEYS.length])],
      ['node-redis 6 (clientSideCache)', (i) => nodeRedis.get(KEYS[i % KEYS.length])],
      ['ioredis 6', (i) => ioredis.get(KEYS[i % KEYS.length])],
    ];
    for (const [client, op] of runs) {
      const cell = await measure(op, { concurrency: 16, opsPerCall: 1, durationMs: seconds * 1000, warmupMs, maxCalls });
      out.push({ workload: NEAR_WORKLOADS[0].name, client, cell });
      process.stderr.write(`  ${NEAR_WORKLOADS[0].name} / ${client}: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
    }
    const stats = (await near.getStats()).nearCache;
    const csc = nodeRedis.clientSideCache?.stats?.();
    if (csc) out.nodeRedisHitRate = csc.hitCount / Math.max(1, csc.hitCount + csc.missCount);
    out.hitRate = stats.hits / Math.max(1, stats.hits + stats.misses);
  } finally {
    await near.disconnect().catch(() => {});
    await Promise.resolve(ioredis.close()).catch(() => {});
    await nodeRedis.quit().catch(() => {});
    await server.stop();
  }
  return out;
}
