// Rows for a 3-master Redis Cluster (no replicas) started here with redis-server + `redis-cli --cluster create`:
// GET and SET of 100 B at 256 in flight, resilis (cluster options, as REDIS_CLUSTER / REDIS_CLUSTER_NODES give
// them) beside ioredis 6's Cluster client (defaults, and enableAutoPipelining) and node-redis 6's createCluster. Printed as its own table.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './server.mjs';
import { measure } from './measure.mjs';
import { CLIENT_LABELS } from './clients.mjs';

const require = createRequire(import.meta.url);
const run = promisify(execFile);

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:cluster:${i}`);
const VALUE = 'v'.repeat(100);

export const CLUSTER_WORKLOADS = [
  { name: 'cluster get 100B c256', op: (c, i) => c.get(KEYS[i % KEYS.length]) },
  { name: 'cluster set 100B c256', op: (c, i) => c.set(KEYS[i % KEYS.length], VALUE) },
];

/** The adapter over a client with connect/get/set and a closing method. */
const adapt = (client, close) => ({
  connect: () => client.connect(),
  get: (k) => client.get(k),
  set: (k, v) => client.set(k, v),
  close: () => client[close](),
});

/** Cluster adapters: { connect(), get(k), set(k, v), close() } over the seed nodes [{ host, port }]. */
const CLUSTER_CLIENTS = {
  async resilis(nodes) {
    const { createRedisService } = require('../lib/index.js');
    return adapt(createRedisService({ cluster: true, clusterNodes: nodes.map((n) => `${n.host}:${n.port}`) }), 'disconnect');
  },
  ioredis: (nodes) => ioredisCluster(nodes, false),
  'ioredis-ap': (nodes) => ioredisCluster(nodes, true),
  async redis(nodes) {
    const { createCluster } = await import('redis');
    const cluster = createCluster({ rootNodes: nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })) });
    cluster.on('error', () => {});
    return adapt(cluster, 'quit');
  },
};

/** ioredis 6's Cluster at its defaults, or with enableAutoPipelining (its setting for many calls in flight). */
async function ioredisCluster(nodes, enableAutoPipelining) {
  const { Cluster } = await import('ioredis');
  const cluster = new Cluster(nodes, { lazyConnect: true, enableAutoPipelining, redisOptions: { maxRetriesPerRequest: 1 } });
  cluster.on('error', () => {});
  return adapt(cluster, 'quit');
}

/** Three empty masters joined by `redis-cli --cluster create`; resolves { nodes, stop() } once cluster_state is ok. */
async function startCluster(redisBin) {
  const dir = mkdtempSync(path.join(tmpdir(), 'resilis-bench-cluster-'));
  const servers = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      const cwd = mkdtempSync(path.join(dir, 'node-'));
      servers.push(await startRedis({ bin: redisBin, cwd, args: ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] }));
    }
    const cli = path.join(path.dirname(redisBin), 'redis-cli');
    const seeds = servers.map((s) => `${s.host}:${s.port}`);
    const { stdout } = await run(cli, ['--cluster', 'create', ...seeds, '--cluster-replicas', '0', '--cluster-yes'], { timeout: 60_000 });
    if (!stdout.includes('[OK] All 16384 slots covered')) throw new Error(`cluster create failed:\n${stdout}`);
    const deadline = Date.now() + 20_000;
    for (const s of servers) {
      for (;;) {
        const { stdout: info } = await run(cli, ['-p', String(s.port), 'cluster', 'info']);
        if (/cluster_state:ok/.test(info) && /cluster_known_nodes:3/.test(info)) break;
        if (Date.now() > deadline) throw new Error(`node ${s.port} did not reach cluster_state:ok:\n${info}`);
        await sleep(100);
      }
    }
    return { nodes: servers.map((s) => ({ host: s.host, port: s.port })), version: servers[0].version, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs the cluster rows; returns [{ workload, client, cell }]. */
export async function measureCluster({ redisBin, seconds, warmupMs, maxCalls, only, clients }) {
  const workloads = CLUSTER_WORKLOADS.filter((w) => !only || only.some((s) => w.name.includes(s)));
  const names = Object.keys(CLUSTER_CLIENTS).filter((c) => !clients || clients.includes(c));
  if (workloads.length === 0 || names.length === 0) return [];
  const cluster = await startCluster(redisBin);
  const out = [];
  try {
    for (const name of names) {
      let adapter;
      try {
        adapter = await CLUSTER_CLIENTS[name](cluster.nodes);
        await adapter.connect();
        for (let i = 0; i < KEYS.length; i += 64) await Promise.all(KEYS.slice(i, i + 64).map((k) => adapter.set(k, VALUE)));
      } catch (err) {
        for (const wl of workloads) out.push({ workload: wl.name, client: CLIENT_LABELS[name], cell: { failed: `setup failed: ${String(err?.message ?? err).split('\n')[0]}` } });
        await adapter?.close().catch(() => {});
        continue;
      }
      for (const wl of workloads) {
        const cell = await measure((i) => wl.op(adapter, i), {
          concurrency: 256,
          opsPerCall: 1,
          durationMs: seconds * 1000,
          warmupMs,
          maxCalls,
        });
        out.push({ workload: wl.name, client: CLIENT_LABELS[name], cell });
        process.stderr.write(`  ${wl.name} / ${name}: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
        await sleep(50);
      }
      await adapter.close().catch(() => {});
    }
  } finally {
    await cluster.stop();
  }
  return out;
}
