// `npm run bench`: resilis vs ioredis 6 vs node-redis 6 vs valkey-glide 2.5 against one throwaway local redis-server.
//
// Env:
//   BENCH_SECONDS    measured seconds per cell (default 2)
//   BENCH_WARMUP_MS  warmup per cell, not recorded (default 300)
//   BENCH_RUNS       repeat the whole matrix N times and report the median per metric (default 1)
//   BENCH_ONLY       only workloads whose name contains this substring (comma list = any of them;
//                    'cluster' = only the 3-master cluster rows, bench/cluster.mjs)
//   BENCH_CLIENTS    comma list of clients (resilis,ioredis,ioredis-ap,redis,glide; default all)
//   BENCH_MAX_CALLS  upper bound of calls per cell (default 5,000,000)
//   BENCH_OUT        JSON output path (default bench/results.json)
//   BENCH_ONLY=ceiling  redis-benchmark on the same server for GET/SET 100 B at 1, 16, 256 in flight (bench/ceiling.mjs)
//   BENCH_ONLY=tls   GET/SET 100 B at 16 and 256 in flight over TLS, each client, plus the TLS ceiling (bench/tls.mjs)
//   BENCH_ONLY=http  an Express route reading a cached JSON value, driven by autocannon (bench/http.mjs)
//   BENCH_ONLY=bullmq BullMQ jobs/s on resilis and on ioredis (bench/bullmq.mjs; part of the default run)
//   BENCH_ONLY=upstash  REDIS_PROVIDER=upstash beside @upstash/redis on the same REST test server (bench/upstash.mjs)
//   BENCH_ONLY=tracing  the cost of tracing channels: resilis GET with no subscriber and with one (bench/tracing.mjs)
//   BENCH_ONLY=rss   each client alone in a process of its own: RSS after each plain GET/SET row (bench/rss.mjs)
//   BENCH_ONLY=compression  16 KiB JSON SET/GET with compression off, lz4 and zstd: ops/s, bytes on the wire and
//                    stored, Redis used_memory, the memory store (bench/compression.mjs)
//   BENCH_SOAK_SECONDS  length of the fallback memory soak (default 40; 0 skips it; BENCH_ONLY=soak runs only it)
//   REDIS_SERVER_BIN redis-server binary (default /usr/bin/redis-server)
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './server.mjs';
import { CLIENTS, CLIENT_ROWS, CLIENT_LABELS, BASELINE } from './clients.mjs';
import { WORKLOADS } from './workloads.mjs';
import { openClient, closeQuietly } from './open.mjs';
import { measure, medianCell } from './measure.mjs';
import { formatTable, writeJson } from './report.mjs';
import { FALLBACK_WORKLOADS, measureFallback } from './fallback.mjs';
import { NEAR_WORKLOADS, measureNearCache } from './near-cache.mjs';
import { CLUSTER_WORKLOADS, measureCluster } from './cluster.mjs';
import { measureFallbackMemory, formatFallbackMemory } from './fallback-memory.mjs';
import { measureBullmq } from './bullmq.mjs';
import { UPSTASH_WORKLOADS, UPSTASH_BASELINE, measureUpstash } from './upstash.mjs';
import { measureCeiling, formatCeiling } from './ceiling.mjs';
import { TLS_WORKLOADS, measureTls } from './tls.mjs';
import { measureHttp, HTTP_WORKLOADS, formatHttp } from './http.mjs';
import { RSS_CLIENTS, measureRss, formatRss } from './rss.mjs';

/** redis-benchmark on the same server for the GET and SET 100 B rows: `ceiling get 100B c256` beside `get 100B c256`. */
const CEILING_ROWS = ['get', 'set'].flatMap((test) =>
  [1, 16, 256].map((inFlight) => ({ name: `ceiling ${test} 100B c${inFlight}`, workload: `${test} 100B c${inFlight}`, test, inFlight })),
);
import { TRACING_WORKLOADS, measureTracing } from './tracing.mjs';
import { COMPRESSION_WORKLOADS, measureCompression, formatCompressionFigures } from './compression.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));

function envNumber(name, dflt) {
  const raw = process.env[name];
  if (raw == null || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

function envList(name) {
  const raw = process.env[name];
  if (!raw) return null;
  return raw.split(',').map((s) => s.trim()).filter(Boolean);
}

const config = {
  seconds: envNumber('BENCH_SECONDS', 2),
  warmupMs: envNumber('BENCH_WARMUP_MS', 300),
  runs: Math.max(1, Math.floor(envNumber('BENCH_RUNS', 1))),
  maxCalls: Math.max(1, Math.floor(envNumber('BENCH_MAX_CALLS', 5_000_000))),
  only: envList('BENCH_ONLY'),
  clients: envList('BENCH_CLIENTS'),
  out: process.env.BENCH_OUT || path.join(here, 'results.json'),
  redisBin: process.env.REDIS_SERVER_BIN || '/usr/bin/redis-server',
  soakSeconds: envNumber('BENCH_SOAK_SECONDS', 40),
};

async function main() {
  const unknown = (config.clients ?? []).filter((c) => !(c in CLIENTS));
  if (unknown.length) throw new Error(`BENCH_CLIENTS: unknown client(s) ${unknown.join(', ')}; known: ${Object.keys(CLIENTS).join(', ')}`);
  const clientNames = Object.keys(CLIENTS).filter((c) => !config.clients || config.clients.includes(c));
  const workloads = WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)));
  const fallbackRows = clientNames.includes('resilis')
    ? FALLBACK_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)))
    : [];
  const clusterRows = CLUSTER_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)));
  const nearRows = clientNames.includes('resilis')
    ? NEAR_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)))
    : [];
  const upstashRows = clientNames.includes('resilis')
    ? UPSTASH_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)))
    : [];
  const ceilingRows = CEILING_ROWS.filter((r) => !config.only || config.only.some((s) => r.name.includes(s)));
  const tlsRows = TLS_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)));
  const httpRows = HTTP_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)));
  const tracingRows = clientNames.includes('resilis')
    ? TRACING_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)))
    : [];
  const compressionRows = clientNames.includes('resilis')
    ? COMPRESSION_WORKLOADS.filter((w) => !config.only || config.only.some((s) => w.name.includes(s)))
    : [];
  const bullmq = clientNames.includes('resilis') && (!config.only || config.only.includes('bullmq'));
  const rssClients = RSS_CLIENTS.filter((c) => clientNames.includes(c));
  const rss = rssClients.length > 0 && (!config.only || config.only.includes('rss'));
  const soak = config.soakSeconds > 0 && clientNames.includes('resilis') && (!config.only || config.only.includes('soak'));
  const selected = [workloads, fallbackRows, clusterRows, nearRows, upstashRows, ceilingRows, tlsRows, httpRows, tracingRows, compressionRows];
  if (selected.every((rows) => rows.length === 0) && !soak && !bullmq && !rss) {
    const names = [...WORKLOADS, ...CEILING_ROWS, ...TLS_WORKLOADS, ...HTTP_WORKLOADS, ...FALLBACK_WORKLOADS, ...CLUSTER_WORKLOADS, ...NEAR_WORKLOADS, ...UPSTASH_WORKLOADS, ...TRACING_WORKLOADS, ...COMPRESSION_WORKLOADS]
      .map((w) => w.name)
      .join(', ');
    throw new Error(`BENCH_ONLY=${process.env.BENCH_ONLY} matches no workload; names: ${names}`);
  }

  const server = await startRedis({ bin: config.redisBin });
  const onSignal = async (sig) => {
    await server.stop();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  const opened = new Map(); // name -> { adapter } | { error }
  try {
    console.log(`redis-server ${server.version} on ${server.url} (pid ${server.pid})`);
    console.log(
      `node ${process.version}, ${os.cpus().length}x ${os.cpus()[0]?.model?.trim() ?? 'cpu'}; ` +
        `${config.seconds}s/cell + ${config.warmupMs}ms warmup, runs=${config.runs}, ` +
        `${workloads.length} workloads x ${clientNames.length} clients`,
    );

    for (const name of clientNames) {
      const res = await openClient(name, server);
      opened.set(name, res);
      console.log(res.error ? `  ${name.padEnd(8)} ${res.error}` : `  ${name.padEnd(8)} connected`);
    }

    // results[workload][client] = [cell per run]
    const results = new Map(workloads.map((w) => [w.name, new Map()]));
    const broken = new Map(); // client -> reason (a cell hung; skip the rest)
    for (let run = 0; run < config.runs; run++) {
      // Rotate the client order each run so no client always goes first (or right after a heavy one).
      const order = clientNames.map((_, i) => clientNames[(i + run) % clientNames.length]);
      for (const wl of workloads) {
        for (const name of order) {
          if (!runsRow(name, wl)) continue;
          const { adapter } = opened.get(name);
          if (!adapter) continue;
          let cell;
          if (wl.needs && typeof adapter[wl.needs] !== 'function') {
            cell = { failed: `n/a (no ${wl.needs} in this client)` };
          } else if (broken.has(name)) {
            cell = { failed: `skipped: ${broken.get(name)}` };
          } else {
            const copiesBefore = adapter.copies ? await adapter.copies() : null;
            cell = await measure((i) => wl.op(adapter, i), {
              concurrency: wl.concurrency,
              opsPerCall: wl.opsPerCall,
              durationMs: config.seconds * 1000,
              warmupMs: config.warmupMs,
              maxCalls: config.maxCalls,
            });
            if (cell.failed) broken.set(name, `earlier cell ${wl.name} ${cell.failed}`);
            if (copiesBefore && !cell.failed) cell.copiesPerOp = perOp(copiesBefore, await adapter.copies(), cell);
          }
          const runs = results.get(wl.name);
          if (!runs.has(name)) runs.set(name, []);
          runs.get(name).push(cell);
          const progress = cell.failed ? cell.failed : `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`;
          process.stderr.write(`  [run ${run + 1}/${config.runs}] ${wl.name} / ${name}: ${progress}\n`);
          await sleep(50); // let sockets drain and GC catch up between cells
        }
      }
    }

    // Table rows: a failed client shows one row per workload saying why.
    const rows = [];
    const baselineOps = new Map();
    const json = [];
    for (const wl of workloads) {
      for (const name of clientNames) {
        if (!runsRow(name, wl)) continue;
        const o = opened.get(name);
        const runs = results.get(wl.name).get(name) ?? [];
        const cell = o.error ? { failed: o.error } : medianCell(runs);
        if (name === BASELINE && !cell.failed) baselineOps.set(wl.name, cell.opsPerSec);
        rows.push({ workload: wl.name, client: CLIENT_LABELS[name] ?? name, cell, unit: wl.unit });
        json.push({
          workload: wl.name,
          client: name,
          concurrency: wl.concurrency,
          opsPerCall: wl.opsPerCall,
          median: cell,
          runs,
        });
      }
    }
    for (const j of json) {
      const base = baselineOps.get(j.workload);
      j.median.ratioToIoredis = base && !j.median.failed ? j.median.opsPerSec / base : null;
    }

    if (workloads.length > 0) {
      console.log('');
      console.log(formatTable(rows, baselineOps));
      console.log('');
      console.log('ops/s counts keys (MGET) or commands (pipeline); latency is per call; CPU = this Node process (all threads); RSS = the Node process after the cell.');
      printCopies(rows);
    }

    let ceiling = [];
    if (ceilingRows.length > 0) {
      ceiling = await measureCeiling({ redisBin: config.redisBin, port: server.port, rows: ceilingRows, seconds: config.seconds, runs: config.runs });
      console.log('');
      console.log(`The ceiling: redis-benchmark against the same server, same in-flight depth (median of ${config.runs}); each client's ops/s as a fraction of it:`);
      console.log(formatCeiling(ceiling, rows, (c) => c.workload));
    }

    let tls = [];
    if (tlsRows.length > 0) {
      tls = await measureTls({ ...config, rows: tlsRows, clientNames });
      console.log('');
      console.log(`Over TLS (redis-server --tls-port, TLS 1.3, server certificate only; median of ${config.runs}):`);
      console.log(formatTable(tls.rows, tls.baselineOps));
      if (tls.ceiling.length > 0) {
        console.log('The TLS ceiling: redis-benchmark --tls against the same TLS server; each client as a fraction of it:');
        console.log(formatCeiling(tls.ceiling, tls.rows, (c) => c.workload));
      }
    }

    let http = [];
    if (httpRows.length > 0) {
      http = await measureHttp({ ...config, rows: httpRows, url: server.url });
      console.log('');
      console.log(formatHttp(http));
    }

    let nearCache = [];
    if (nearRows.length > 0) {
      nearCache = await measureNearCache({ ...config });
      const base = nearCache.find((r) => r.client === 'ioredis 6' && !r.cell.failed);
      const pct = (x) => `${((x ?? 0) * 100).toFixed(1)}%`;
      console.log('');
      console.log(`Reads served by the near cache (hit rate ${pct(nearCache.hitRate)}; node-redis clientSideCache ${pct(nearCache.nodeRedisHitRate)}), beside ioredis GET of the same keys:`);
      console.log(formatTable(nearCache, new Map(base ? [[base.workload, base.cell.opsPerSec]] : [])));
    }

    let fallback = [];
    if (fallbackRows.length > 0) {
      fallback = await measureFallback({ ...config });
      console.log('');
      console.log('Served from the in-memory fallback while Redis is stopped (the other clients cannot serve then):');
      console.log(formatTable(fallback.map(({ workload, cell }) => ({ workload, client: 'resilis', cell })), new Map()));
    }

    let upstash = [];
    if (upstashRows.length > 0) {
      upstash = await measureUpstash({ ...config, runs: Math.max(3, config.runs) });
      const base = new Map(upstash.filter((r) => r.client === UPSTASH_BASELINE && !r.cell.failed).map((r) => [r.workload, r.cell.opsPerSec]));
      console.log('');
      console.log(`REDIS_PROVIDER=upstash and @upstash/redis on the same Upstash REST test server (median of 3 alternating runs; ratio vs ${UPSTASH_BASELINE}, not ioredis):`);
      console.log(formatTable(upstash, base));
    }

    let cluster = [];
    if (clusterRows.length > 0) {
      cluster = await measureCluster({ ...config });
      const clusterBase = new Map(cluster.filter((r) => r.client === CLIENT_LABELS[BASELINE] && !r.cell.failed).map((r) => [r.workload, r.cell.opsPerSec]));
      console.log('');
      console.log('Redis Cluster, 3 masters started by redis-cli --cluster create (resilis with cluster: true / REDIS_CLUSTER_NODES):');
      console.log(formatTable(cluster, clusterBase));
    }

    let tracing = null;
    if (tracingRows.length > 0) {
      tracing = await measureTracing({ ...config, runs: Math.max(3, config.runs) });
      console.log('');
      console.log(`Tracing channels (resilis:command, resilis:batch), alternating runs, median of ${Math.max(3, config.runs)}:`);
      console.log(formatTable(tracing.rows, new Map([[tracing.rows[0].workload, tracing.rows[0].cell.opsPerSec]])));
      if (tracing.costPer1k) {
        const c = tracing.costPer1k;
        console.log(`  CPU ms per 1,000 GETs over the detached observer: no subscriber ${c.noSubscriberCpuMs.toFixed(3)}, one subscriber ${c.oneSubscriberCpuMs.toFixed(3)}`);
      }
    }

    let compression = null;
    if (compressionRows.length > 0) {
      compression = await measureCompression({ ...config, runs: Math.max(3, config.runs) });
      console.log('');
      console.log(`Value compression, 16 KiB JSON-like values, 1,000 keys (median of ${Math.max(3, config.runs)} runs; ratio vs compression off):`);
      const base = new Map();
      for (const r of compression.rows) {
        const off = compression.rows.find((x) => x.workload === r.workload.replace(/compression \w+$/, 'compression off'));
        if (off && !off.cell.failed) base.set(r.workload, off.cell.opsPerSec);
      }
      console.log(formatTable(compression.rows, base));
      console.log(formatCompressionFigures(compression.figures));
    }

    let queueRows = [];
    if (bullmq) {
      queueRows = await measureBullmq({ redisBin: config.redisBin, runs: Math.max(3, config.runs) });
      const base = queueRows.find((r) => r.client === 'ioredis');
      console.log('');
      console.log('BullMQ (same server, alternating runs, median of 3):');
      console.log(formatTable(queueRows, new Map(base ? [[base.workload, base.cell.opsPerSec]] : [])));
    }

    let fallbackMemory = null;
    if (soak) {
      fallbackMemory = await measureFallbackMemory({ redisBin: config.redisBin, seconds: config.soakSeconds });
      console.log('');
      console.log(formatFallbackMemory(fallbackMemory));
    }

    let rssRows = [];
    if (rss) {
      rssRows = await measureRss({ port: server.port, seconds: config.seconds, clients: rssClients });
      console.log('');
      console.log('RSS of the Node process (MB), each client alone in a process of its own, after each plain row:');
      console.log(formatRss(rssRows));
    }

    writeJson(config.out, {
      date: new Date().toISOString(),
      node: process.version,
      platform: `${os.platform()} ${os.arch()}`,
      cpus: os.cpus().map((c) => c.model.trim()),
      redisServer: server.version,
      config: { ...config, redisBin: undefined, out: undefined },
      clients: Object.fromEntries([...opened].map(([n, o]) => [n, o.error ?? 'ok'])),
      results: json,
      fallback,
      nearCache,
      cluster,
      fallbackMemory,
      ceiling,
      tls: tls.rows ? { rows: tls.rows, ceiling: tls.ceiling } : [],
      http,
      bullmq: queueRows,
      upstash,
      tracing,
      rss: rssRows,
      compression,
    });
    console.log(`results written to ${config.out}`);
  } finally {
    for (const { adapter } of opened.values()) if (adapter) await closeQuietly(adapter);
    await server.stop();
  }
}

main().then(
  () => process.exit(0), // some clients keep timers/handles alive after close
  (err) => {
    console.error(`bench failed: ${err?.stack ?? err}`);
    process.exit(1);
  },
);

/** Whether client `name` runs workload `wl` (CLIENT_ROWS limits some clients to some rows). */
function runsRow(name, wl) {
  return !CLIENT_ROWS[name] || CLIENT_ROWS[name](wl);
}

/** Bytes copied per operation (getStats().copies, warm-up included in the count, so approximate). */
function perOp(before, after, cell) {
  const ops = cell.ops + (cell.warmupOps ?? 0);
  return Object.fromEntries(Object.keys(after).map((k) => [k, ops > 0 ? Math.round((after[k] - before[k]) / ops) : null]));
}

/** The copies resilis made per operation on the 16 KiB rows (median run). */
function printCopies(rows) {
  const shown = rows.filter((r) => r.cell.copiesPerOp && /16KiB/.test(r.workload));
  if (shown.length === 0) return;
  console.log('Bytes resilis copied per operation, beside the kernel (getStats().copies):');
  for (const r of shown) {
    const c = r.cell.copiesPerOp;
    console.log(`  ${r.workload}: out of JS ${c.fromJs} B, into write buffers ${c.intoWire} B, written in place ${c.wireByReference} B, ` +
      `copied into JS ${c.toJs} B, read by JS in place ${c.toJsByReference} B`);
  }
}
