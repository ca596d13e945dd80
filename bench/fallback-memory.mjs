// The fallback's memory bound, in the process's RSS: a soak of random 100-byte GETs and SETs
// (half each) at 256 in flight over a million keys against one redis-server, while resilis
// mirrors what it reads and writes into its in-memory fallback (default fallback.maxSize).
// Each client runs in a child process of its own, so each RSS is its own: resilis with the
// fallback, resilis with `fallback.mirror: false` (the same client without the copies), and
// ioredis. What the fallback adds is the difference of the first two; the bound holds when it
// stays within 1.2x maxSize.
// Standalone: node bench/fallback-memory.mjs [seconds=40] [maxSize bytes=104857600]
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis } from './server.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export const SOAK_KEYS = 1_000_000;
export const SOAK_IN_FLIGHT = 256;
/** The bound: the fallback's share of RSS over its configured maxSize. */
export const RSS_BOUND_RATIO = 1.2;

const CHILD = `
const [client, url, seconds, maxSize, root] = process.argv.slice(1);
const KEYS = ${SOAK_KEYS};
const VALUE = 'x'.repeat(100);
const mib = (n) => Math.round(n / 1048576);
async function open() {
  if (client === 'ioredis') {
    const Redis = require(require.resolve('ioredis', { paths: [root] }));
    const r = new Redis(url, { lazyConnect: true, enableAutoPipelining: false });
    await r.connect();
    return { get: (k) => r.get(k), set: (k, v) => r.set(k, v), close: () => r.quit(), stats: () => null };
  }
  const { createRedisService } = require(root + '/lib/index.js');
  const s = createRedisService({ url, fallback: { maxSize: Number(maxSize), mirror: client === 'resilis' } });
  await s.connect();
  return { get: (k) => s.get(k), set: (k, v) => s.set(k, v), close: () => s.disconnect(), stats: () => s.getFallbackCacheStats() };
}
(async () => {
  const c = await open();
  global.gc?.();
  const before = process.memoryUsage().rss;
  const end = Date.now() + Number(seconds) * 1000;
  let ops = 0;
  let peak = before;
  const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().rss); }, 250);
  const worker = async () => {
    while (Date.now() < end) {
      const key = 'soak:' + Math.floor(Math.random() * KEYS);
      await (ops & 1 ? c.get(key) : c.set(key, VALUE));
      ops++;
    }
  };
  await Promise.all(Array.from({ length: ${SOAK_IN_FLIGHT} }, worker));
  clearInterval(sampler);
  const after = process.memoryUsage().rss;
  const stats = c.stats();
  await c.close();
  console.log(JSON.stringify({ client, ops, seconds: Number(seconds), rssBeforeMiB: mib(before), rssAfterMiB: mib(after), rssPeakMiB: mib(Math.max(peak, after)), fallback: stats }));
  process.exit(0);
})().catch((e) => { console.log(JSON.stringify({ client, error: String(e && e.stack || e) })); process.exit(1); });
`;

function runChild(client, url, seconds, maxSize) {
  return new Promise((resolve) => {
    execFile(process.execPath, ['-e', CHILD, client, url, String(seconds), String(maxSize), root], { maxBuffer: 1 << 20, timeout: (seconds + 60) * 1000 },
      (err, stdout, stderr) => {
        const line = stdout.trim().split('\n').pop();
        try {
          resolve(JSON.parse(line));
        } catch {
          resolve({ client, error: `${err?.message ?? 'no result'}\n${stderr}` });
        }
      });
  });
}

/** Runs the soak for each client on a fresh server (so each starts from an empty keyspace). */
export async function measureFallbackMemory({ redisBin, seconds = 40, maxSize = 100 * 1024 * 1024, clients = ['resilis', 'resilis-no-mirror', 'ioredis'] } = {}) {
  const results = [];
  for (const client of clients) {
    const server = await startRedis({ bin: redisBin });
    try {
      results.push(await runChild(client, server.url, seconds, maxSize));
    } finally {
      await server.stop();
    }
    process.stderr.write(`  soak ${client}: ${JSON.stringify(results.at(-1))}\n`);
  }
  const by = Object.fromEntries(results.map((r) => [r.client, r]));
  const added = by.resilis && by['resilis-no-mirror'] && !by.resilis.error && !by['resilis-no-mirror'].error
    ? (by.resilis.rssAfterMiB - by['resilis-no-mirror'].rssAfterMiB) * 1048576
    : null;
  return { maxSize, seconds, results, fallbackAddedBytes: added, ratio: added === null ? null : added / maxSize };
}

export function formatFallbackMemory(m) {
  const lines = [`Fallback memory soak: ${m.seconds}s, ${SOAK_IN_FLIGHT} in flight, GET/SET of 100 B values over ${SOAK_KEYS.toLocaleString('en-US')} random keys, maxSize ${(m.maxSize / 1048576).toFixed(0)} MiB`];
  lines.push('| client | ops/s | RSS before | RSS after | RSS peak | fallback items | fallback calculatedSize |');
  lines.push('|---|---|---|---|---|---|---|');
  for (const r of m.results) {
    if (r.error) {
      lines.push(`| ${r.client} | failed: ${r.error.split('\n')[0]} |||||`);
      continue;
    }
    const f = r.fallback;
    lines.push(`| ${r.client} | ${Math.round(r.ops / r.seconds).toLocaleString('en-US')} | ${r.rssBeforeMiB} MiB | ${r.rssAfterMiB} MiB | ${r.rssPeakMiB} MiB | ${f ? f.itemCount.toLocaleString('en-US') : '-'} | ${f ? `${(f.calculatedSize / 1048576).toFixed(1)} MiB` : '-'} |`);
  }
  if (m.ratio !== null) {
    lines.push(`The fallback adds ${(m.fallbackAddedBytes / 1048576).toFixed(0)} MiB of RSS (resilis minus resilis without mirroring): ${m.ratio.toFixed(2)}x maxSize (bound ${RSS_BOUND_RATIO}x).`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const seconds = Number(process.argv[2] || 40);
  const maxSize = Number(process.argv[3] || 100 * 1024 * 1024);
  const m = await measureFallbackMemory({ seconds, maxSize, redisBin: process.env.BENCH_REDIS_SERVER });
  console.log(formatFallbackMemory(m));
  process.exit(0);
}
