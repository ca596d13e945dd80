// Rows for calls served from the in-memory fallback: resilis connected to its own redis-server, which is then
// killed; GET and SET at 16 in flight are answered by the fallback (degraded mode). The other clients have no
// fallback (they reject or queue while Redis is down), so the rows are resilis only. The SET rows show what
// each outage-journal policy costs (issue 16): none (`writes: 'local'`), in memory (the default), and the
// durable file journal with fsync 'everysec' and 'always' (a file in the OS temp directory).
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';

const require = createRequire(import.meta.url);

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:fallback:${i}`);
const VALUE = 'v'.repeat(100);

const get = (s, i) => s.get(KEYS[i % KEYS.length]);
const set = (s, i) => s.set(KEYS[i % KEYS.length], VALUE);
// Room for every SET of a run in the journal (it is not replayed: the service is dropped with it).
const JOURNAL = { maxBytes: 4 * 1024 * 1024 * 1024 };

/** `journal`: the service's outage-journal policy (see `serviceOptions`). */
export const FALLBACK_WORKLOADS = [
  { name: 'fallback get 100B c16 (Redis stopped)', journal: 'none', op: get },
  { name: 'fallback set 100B c16 (Redis stopped)', journal: 'none', op: set },
  { name: 'fallback set 100B c16, journal in memory (Redis stopped)', journal: 'memory', op: set },
  { name: "fallback set 100B c16, journal file fsync 'everysec' (Redis stopped)", journal: 'everysec', op: set },
  { name: "fallback set 100B c16, journal file fsync 'always' (Redis stopped)", journal: 'always', op: set },
];

function serviceOptions(journal, dir) {
  switch (journal) {
    // fallback.writes 'local': outage writes stay in the process, not journalled.
    case 'none': return { fallback: { writes: 'local' } };
    case 'memory': return { fallback: { maxSize: 8 * 1024 * 1024 * 1024 } };
    default: return { fallback: { journal: { ...JOURNAL, path: path.join(dir, `${journal}.journal`), fsync: journal } } };
  }
}

/** Runs the fallback rows; returns [{ workload, cell }]. */
export async function measureFallback({ redisBin, seconds, warmupMs, maxCalls, only }) {
  const workloads = FALLBACK_WORKLOADS.filter((w) => !only || only.some((s) => w.name.includes(s)));
  if (workloads.length === 0) return [];
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'resilis-bench-journal-'));
  // One service per journal policy, all connected before Redis stops.
  const services = new Map();
  for (const wl of workloads) {
    if (!services.has(wl.journal)) services.set(wl.journal, createRedisService({ url: server.url, ...serviceOptions(wl.journal, dir) }));
  }
  const out = [];
  try {
    for (const service of services.values()) {
      service.on('error', () => {});
      await service.connect();
      for (const k of KEYS) await service.set(k, VALUE); // mirrored into the fallback
    }
    await server.stop();
    for (const service of services.values()) {
      for (let i = 0; i < 200 && service.isConnected; i++) {
        await service.get(KEYS[0]).catch(() => {});
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    for (const wl of workloads) {
      const service = services.get(wl.journal);
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
    for (const service of services.values()) await service.disconnect().catch(() => {});
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
