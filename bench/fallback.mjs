// Rows for calls served from the in-memory fallback: resilis connected to its own redis-server, which is then
// killed; GET and SET at 16 in flight are answered by the fallback (degraded mode). The other clients have no
// fallback (they reject or queue while Redis is down), so the rows are resilis only.
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';

const require = createRequire(import.meta.url);

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:fallback:${i}`);
const VALUE = 'v'.repeat(100);

export const FALLBACK_WORKLOADS = [
  { name: 'fallback get 100B c16 (Redis stopped)', op: (s, i) => s.get(KEYS[i % KEYS.length]) },
  { name: 'fallback set 100B c16 (Redis stopped)', op: (s, i) => s.set(KEYS[i % KEYS.length], VALUE) },
];

/** Runs the fallback rows; returns [{ workload, cell }]. */
export async function measureFallback({ redisBin, seconds, warmupMs, maxCalls, only }) {
  const workloads = FALLBACK_WORKLOADS.filter((w) => !only || only.some((s) => w.name.includes(s)));
  if (workloads.length === 0) return [];
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  // fallback.writes 'local': a benchmark's outage writes need not be replayed.
  const service = createRedisService({ url: server.url, fallback: { writes: 'local' } });
  const out = [];
  try {
    await service.connect();
    for (const k of KEYS) await service.set(k, VALUE); // mirrored into the fallback
    await server.stop();
    for (let i = 0; i < 200 && service.isConnected; i++) {
      await service.get(KEYS[0]).catch(() => {});
      await new Promise((r) => setTimeout(r, 10));
    }
    for (const wl of workloads) {
      const cell = await measure((i) => wl.op(service, i), {
        concurrency: 16,
        opsPerCall: 1,
        durationMs: seconds * 1000,
        warmupMs,
        maxCalls,
      });
      out.push({ workload: wl.name, cell });
      process.stderr.write(`  ${wl.name} / resilis: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
    }
  } finally {
    await service.disconnect().catch(() => {});
    await server.stop();
  }
  return out;
}
