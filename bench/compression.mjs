// Value compression (`compression: { algorithm, minBytes }`): 16 KiB JSON-like values SET and GET at 16 in
// flight with compression off, lz4 and zstd, on one throwaway redis-server. Besides ops/s and CPU it reports
// what compression is for: the bytes Redis received and sent per operation (INFO stats total_net_input_bytes /
// total_net_output_bytes over the cell, the client's own INFO calls included), the bytes stored per value
// (STRLEN), Redis' used_memory growth for 1,000 such values, and the in-memory store (`enabled: false`, the
// same store the fallback uses) serving GETs of the values it holds, with its own byte count.
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure, medianCell } from './measure.mjs';

const require = createRequire(import.meta.url);

export const COMPRESSION_WORKLOADS = [{ name: 'compression' }];

const COUNT = 1000;
const SIZE = 16 * 1024;
const MODES = [
  ['off', undefined],
  ['lz4', { algorithm: 'lz4', minBytes: 1024 }],
  ['zstd', { algorithm: 'zstd', minBytes: 1024 }],
];

/** A JSON document of exactly `SIZE` bytes, different for each `seed` (ids, names, scores). */
export function jsonValue(seed) {
  const rows = [];
  let len = 2;
  for (let i = 0; len < SIZE; i++) {
    const id = seed * 1000 + i;
    const row = JSON.stringify({
      id,
      name: `customer ${id}`,
      email: `customer.${id}@example.com`,
      plan: ['free', 'team', 'enterprise'][id % 3],
      active: id % 7 !== 0,
      balance: Math.round(((id * 7919) % 100000) / 7) / 100,
      tags: [`t${id % 13}`, `r${id % 5}`],
    });
    rows.push(row);
    len += row.length + 1;
  }
  return `[${rows.join(',')}]`.slice(0, SIZE);
}

const keyOf = (i) => `bench:compression:${i % COUNT}`;

function infoField(info, field) {
  const m = new RegExp(`^${field}:(\\d+)`, 'm').exec(info);
  return m ? Number(m[1]) : NaN;
}

async function net(admin) {
  const info = await admin.info('stats');
  return { in: infoField(info, 'total_net_input_bytes'), out: infoField(info, 'total_net_output_bytes') };
}

async function preload(svc, values) {
  let next = 0;
  const writer = async () => {
    while (next < COUNT) {
      const i = next++;
      await svc.set(keyOf(i), values[i]);
    }
  };
  await Promise.all(Array.from({ length: 32 }, writer));
}

export async function measureCompression({ redisBin, seconds, warmupMs, maxCalls, runs = 3 }) {
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  const admin = createRedisService({ url: server.url });
  const values = Array.from({ length: COUNT }, (_, i) => jsonValue(i));
  const rows = [];
  const figures = [];
  const cellOpts = { concurrency: 16, opsPerCall: 1, durationMs: seconds * 1000, warmupMs, maxCalls };
  try {
    for (const [mode, compression] of MODES) {
      const svc = createRedisService({ url: server.url, compression });
      await svc.connect();
      await admin.call('flushall');
      const memBefore = infoField(await admin.info('memory'), 'used_memory');
      await preload(svc, values);
      const memAfter = infoField(await admin.info('memory'), 'used_memory');
      let stored = 0;
      for (let i = 0; i < COUNT; i += 10) stored += Number(await admin.call('strlen', keyOf(i)));
      stored /= COUNT / 10;
      if ((await svc.get(keyOf(7))) !== values[7]) throw new Error(`compression ${mode}: a value did not read back whole`);
      const sets = [];
      const gets = [];
      const wire = { setIn: [], getOut: [] };
      for (let round = 0; round < runs; round++) {
        let n0 = await net(admin);
        const set = await measure((i) => svc.set(keyOf(i), values[i % COUNT]), cellOpts);
        let n1 = await net(admin);
        wire.setIn.push((n1.in - n0.in) / Math.max(1, set.ops + (set.warmupOps ?? 0)));
        sets.push(set);
        n0 = await net(admin);
        const get = await measure((i) => svc.get(keyOf(i)), cellOpts);
        n1 = await net(admin);
        wire.getOut.push((n1.out - n0.out) / Math.max(1, get.ops + (get.warmupOps ?? 0)));
        gets.push(get);
        process.stderr.write(`  compression ${mode} round ${round + 1}: SET ${Math.round(set.opsPerSec ?? 0)} ops/s, GET ${Math.round(get.opsPerSec ?? 0)} ops/s\n`);
      }
      await svc.disconnect();
      // The in-memory store (what the fallback serves an outage from) holding the same values.
      const memory = createRedisService({ enabled: false, compression, fallback: { maxSize: 512 * 1024 * 1024 }, logLevel: 'silent' });
      await preload(memory, values);
      const memCells = [];
      for (let round = 0; round < runs; round++) memCells.push(await measure((i) => memory.get(keyOf(i)), cellOpts));
      const storeBytes = memory.getFallbackCacheStats().calculatedSize;
      await memory.disconnect();
      const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      rows.push({ workload: `SET 16KiB JSON c16, compression ${mode}`, client: 'resilis', cell: medianCell(sets) });
      rows.push({ workload: `GET 16KiB JSON c16, compression ${mode}`, client: 'resilis', cell: medianCell(gets) });
      rows.push({ workload: `GET 16KiB JSON c16 from the memory store, compression ${mode}`, client: 'resilis', cell: medianCell(memCells) });
      figures.push({
        mode,
        storedBytesPerValue: Math.round(stored),
        usedMemoryDeltaBytes: memAfter - memBefore,
        setWireInBytesPerOp: Math.round(median(wire.setIn)),
        getWireOutBytesPerOp: Math.round(median(wire.getOut)),
        memoryStoreBytes: storeBytes,
      });
    }
  } finally {
    await admin.disconnect().catch(() => {});
    await server.stop();
  }
  return { rows, figures };
}

export function formatCompressionFigures(figures) {
  const mb = (b) => (b / 2 ** 20).toFixed(1);
  const lines = ['mode | stored B/value | used_memory +MiB (1,000 values) | SET B in/op | GET B out/op | memory store MiB (1,000 values)', '-'.repeat(104)];
  for (const f of figures) {
    lines.push(`${f.mode.padEnd(4)} | ${String(f.storedBytesPerValue).padStart(14)} | ${mb(f.usedMemoryDeltaBytes).padStart(31)} | ${String(f.setWireInBytesPerOp).padStart(11)} | ${String(f.getWireOutBytesPerOp).padStart(12)} | ${f.memoryStoreBytes == null ? '-' : mb(f.memoryStoreBytes)}`);
  }
  return lines.join('\n');
}
