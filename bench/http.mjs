// A whole request: one Express server in this process with the same route four ways, each reading a cached
// JSON value (a ~600-byte product record) from the bench's redis-server, driven by autocannon in a child process
// (so the load generator does not share this event loop): resilis' cacheMiddleware (the stored response is
// sent as is), resilis' getOrSet (JSON decoded, res.json), and hand-written cache-aside (GET, JSON.parse on a
// hit, SET EX on a miss, res.json) on ioredis 6 and on node-redis 6. Requests/s and p99 from autocannon;
// CPU per request and RSS are this (server) process's.
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { median } from './measure.mjs';

const require = createRequire(import.meta.url);
const run = promisify(execFile);

const CONNECTIONS = 16;
const TTL = 300;
const PRODUCT = {
  id: 42,
  name: 'Bench product',
  price: 19.99,
  tags: ['alpha', 'beta', 'gamma', 'delta'],
  stock: { warehouse: 'east', count: 1234 },
  description: 'x'.repeat(400),
};
const load = async () => PRODUCT; // the "database": only reached on a miss

export const HTTP_WORKLOADS = [
  { name: 'http cacheMiddleware (resilis)', route: '/mw/product/42', client: 'resilis cacheMiddleware' },
  { name: 'http getOrSet (resilis)', route: '/gos/product/42', client: 'resilis getOrSet' },
  { name: 'http cache-aside (ioredis)', route: '/ioredis/product/42', client: 'ioredis 6 GET/SET' },
  { name: 'http cache-aside (node-redis)', route: '/node-redis/product/42', client: 'node-redis 6 GET/SET' },
];

async function buildApp(url) {
  const express = require('express');
  const { createRedisService, createRedisCacheService } = require('../lib/index.js');
  const { cacheMiddleware } = require('../lib/express.js');
  const { default: IORedis } = await import('ioredis');
  const { createClient } = await import('redis');

  const service = createRedisService({ url });
  await service.connect();
  const cache = createRedisCacheService({ service });
  const ioredis = new IORedis(url, { maxRetriesPerRequest: 1 });
  ioredis.on('error', () => {});
  const nodeRedis = createClient({ url });
  nodeRedis.on('error', () => {});
  await nodeRedis.connect();

  const app = express();
  app.set('etag', false);
  app.get('/mw/product/:id', cacheMiddleware({ service, ttlSeconds: TTL, keyPrefix: 'bench:http:mw' }), async (req, res) => {
    res.json(await load(req.params.id));
  });
  app.get('/gos/product/:id', async (req, res) => {
    res.json(await cache.getOrSet(`bench:http:gos:${req.params.id}`, () => load(req.params.id), TTL));
  });
  const aside = (get, set) => async (req, res) => {
    const key = `bench:http:aside:${req.params.id}`;
    const raw = await get(key);
    if (raw !== null) return res.json(JSON.parse(raw));
    const value = await load(req.params.id);
    await set(key, JSON.stringify(value));
    res.json(value);
  };
  app.get('/ioredis/product/:id', aside((k) => ioredis.get(k), (k, v) => ioredis.set(k, v, 'EX', TTL)));
  app.get('/node-redis/product/:id', aside((k) => nodeRedis.get(k), (k, v) => nodeRedis.set(k, v, { EX: TTL })));

  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  server.keepAliveTimeout = 60_000;
  const close = async () => {
    await new Promise((resolve) => server.close(resolve));
    server.closeAllConnections?.();
    await service.disconnect().catch(() => {});
    await ioredis.quit().catch(() => {});
    await nodeRedis.quit().catch(() => {});
  };
  return { base: `http://127.0.0.1:${server.address().port}`, close };
}

/** One autocannon run against `url` (child process); resolves its JSON result. */
async function autocannon(url, seconds) {
  const bin = require.resolve('autocannon/autocannon.js');
  const { stdout } = await run(process.execPath, [bin, '-c', String(CONNECTIONS), '-d', String(seconds), '-j', url], {
    timeout: (seconds + 30) * 1000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout);
}

/**
 * Runs each of `rows` (HTTP_WORKLOADS entries) `runs` times in rotating order after a 1 s warmup each, against
 * the redis-server at `url` (the bench's own).
 * Returns [{ workload, client, cell: { opsPerSec, p50Ms, p99Ms, cpuMsPer1kOps, rssMB, errors } }].
 */
export async function measureHttp({ rows, runs, seconds, url }) {
  const app = await buildApp(url);
  const cells = new Map(rows.map((w) => [w.name, []]));
  try {
    for (const wl of rows) {
      const res = await fetch(app.base + wl.route); // the miss that fills the cache
      if (res.status !== 200) throw new Error(`${wl.route}: HTTP ${res.status}`);
      await res.arrayBuffer();
      await autocannon(app.base + wl.route, 1); // warmup
    }
    const seconds_ = Math.max(2, Math.round(seconds));
    for (let r = 0; r < runs; r++) {
      const order = rows.map((_, i) => rows[(i + r) % rows.length]);
      for (const wl of order) {
        const cpu0 = process.cpuUsage();
        const out = await autocannon(app.base + wl.route, seconds_);
        const cpu = process.cpuUsage(cpu0);
        const total = out.requests.total;
        const cell = {
          opsPerSec: out.requests.average,
          p50Ms: out.latency.p50,
          p99Ms: out.latency.p99,
          cpuMsPer1kOps: total > 0 ? (cpu.user + cpu.system) / 1000 / (total / 1000) : null,
          rssMB: process.memoryUsage().rss / 2 ** 20,
          errors: out.errors + out.timeouts + (out.non2xx ?? 0),
        };
        cells.get(wl.name).push(cell);
        process.stderr.write(`  [run ${r + 1}/${runs}] ${wl.name}: ${Math.round(cell.opsPerSec).toLocaleString('en-US')} req/s, p99 ${cell.p99Ms} ms\n`);
        await sleep(100);
      }
    }
  } finally {
    await app.close();
  }
  return rows.map((wl) => {
    const xs = cells.get(wl.name);
    const cell = Object.fromEntries(['opsPerSec', 'p50Ms', 'p99Ms', 'cpuMsPer1kOps', 'rssMB'].map((k) => [k, median(xs.map((c) => c[k]))]));
    cell.errors = xs.reduce((a, c) => a + c.errors, 0);
    return { workload: wl.name, client: wl.client, cell, runs: xs };
  });
}

export function formatHttp(results) {
  const lines = [`A whole request: Express GET of a cached JSON value, autocannon -c ${CONNECTIONS} (child process), one server; CPU and RSS are the server process's:`];
  const base = results.find((r) => r.client.startsWith('ioredis'))?.cell.opsPerSec;
  for (const { client, cell } of results) {
    const ratio = base ? ` ${(cell.opsPerSec / base).toFixed(2)}x ioredis;` : '';
    lines.push(
      `  ${client.padEnd(24)} ${Math.round(cell.opsPerSec).toLocaleString('en-US').padStart(7)} req/s;${ratio} p50 ${cell.p50Ms} ms, p99 ${cell.p99Ms} ms; ` +
        `${cell.cpuMsPer1kOps?.toFixed(1)} µs CPU/request; RSS ${Math.round(cell.rssMB)} MB${cell.errors ? `; ${cell.errors} errors` : ''}`,
    );
  }
  return lines.join('\n');
}
