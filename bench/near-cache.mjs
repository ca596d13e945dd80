// Rows for reads served by the near cache: resilis with `nearCache` on, GET of 100-byte values that are
// already cached (the hot-key case), 16 in flight, beside ioredis' GET of the same keys measured in the
// same place (the near cache's target is a multiple of it). Printed as its own table.
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';
import { CLIENTS } from './clients.mjs';

const require = createRequire(import.meta.url);

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:near:${i}`);
const VALUE = 'n'.repeat(100);

export const NEAR_WORKLOADS = [{ name: 'near-cache get 100B c16' }];

/** Returns [{ workload, client, cell }] for resilis (near cache) and ioredis. */
export async function measureNearCache({ redisBin, seconds, warmupMs, maxCalls, only }) {
  if (only && !only.some((s) => NEAR_WORKLOADS[0].name.includes(s))) return [];
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  const near = createRedisService({ url: server.url, nearCache: { maxSize: 16 * 1024 * 1024, ttl: 60_000 } });
  const ioredis = await CLIENTS.ioredis({ host: server.host, port: server.port, url: server.url });
  const out = [];
  try {
    await near.connect();
    await ioredis.connect();
    for (const k of KEYS) await near.set(k, VALUE);
    for (let pass = 0; pass < 2; pass++) for (const k of KEYS) await near.get(k); // fill the near cache
    const runs = [
      ['resilis (near cache)', (i) => near.get(KEYS[i % KEYS.length])],
      ['ioredis', (i) => ioredis.get(KEYS[i % KEYS.length])],
    ];
    for (const [client, op] of runs) {
      const cell = await measure(op, { concurrency: 16, opsPerCall: 1, durationMs: seconds * 1000, warmupMs, maxCalls });
      out.push({ workload: NEAR_WORKLOADS[0].name, client, cell });
      process.stderr.write(`  ${NEAR_WORKLOADS[0].name} / ${client}: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
    }
    const stats = (await near.getStats()).nearCache;
    out.hitRate = stats.hits / Math.max(1, stats.hits + stats.misses);
  } finally {
    await near.disconnect().catch(() => {});
    await Promise.resolve(ioredis.close()).catch(() => {});
    await server.stop();
  }
  return out;
}
