// `node bench/paired.mjs`: resilis beside ioredis in ONE process, their cells alternating (A B, then B A),
// so both see the same neighbours' load; prints the median of the per-round ratios. For the cells that the
// shared machine moves most (one in flight). Settings: PAIRED_CONCURRENCY (default 1), PAIRED_ROUNDS (7),
// PAIRED_MS per cell (1000), PAIRED_ONLY (get,set).
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';

const require = createRequire(import.meta.url);
const { createRedisService } = require('../lib/index.js');
const Redis = require('ioredis');

const concurrency = Number(process.env.PAIRED_CONCURRENCY || 1);
const rounds = Number(process.env.PAIRED_ROUNDS || 7);
const durationMs = Number(process.env.PAIRED_MS || 1000);
const only = (process.env.PAIRED_ONLY || 'get,set').split(',');

const server = await startRedis({ bin: process.env.REDIS_SERVER_BIN || '/usr/bin/redis-server' });
const resilis = createRedisService({ url: server.url });
await resilis.connect();
const ioredis = new Redis(server.url);
await ioredis.ping();
const keys = Array.from({ length: 1000 }, (_, i) => `bench:paired:${i}`);
const value = 'v'.repeat(100);
for (const k of keys) await ioredis.set(k, value);
const workloads = { get: (c) => (i) => c.get(keys[i % 1000]), set: (c) => (i) => c.set(keys[i % 1000], value) };

const cells = {};
for (let round = 0; round < rounds; round++) {
  for (const w of only) {
    const pair = [['resilis', resilis], ['ioredis', ioredis]];
    for (const [name, client] of round % 2 ? pair.reverse() : pair) {
      const m = await measure(workloads[w](client), { concurrency, durationMs, warmupMs: 200, maxCalls: 5e6 });
      (cells[`${w} ${name}`] ??= []).push(m);
    }
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ms = (x) => x.toFixed(4);
for (const w of only) {
  const r = cells[`${w} resilis`];
  const io = cells[`${w} ioredis`];
  const of = (cs, k) => median(cs.map((c) => c[k]));
  const ratio = median(r.map((c, i) => c.opsPerSec / io[i].opsPerSec));
  console.log(
    `${w} c${concurrency}: resilis ${Math.round(of(r, 'opsPerSec'))} ops/s (p50 ${ms(of(r, 'p50Ms'))}, p99 ${ms(of(r, 'p99Ms'))} ms)` +
      `, ioredis ${Math.round(of(io, 'opsPerSec'))} (p50 ${ms(of(io, 'p50Ms'))}, p99 ${ms(of(io, 'p99Ms'))}): ${ratio.toFixed(2)}x`,
  );
}
await resilis.disconnect();
ioredis.disconnect();
await server.stop();
