// A real Redis Cluster of throwaway nodes (masters + replicas), for REDIS_CLUSTER tests, with the
// faults FAULTS.md lists: coordinated failover, SIGKILL of a master, and a live slot migration.
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis, REPLICATION_ARGS } from './redis.mjs';
import { startTlsRedis, tlsCliArgs, tlsSocketOptions } from './tls.mjs';
import { runCli } from './cli.mjs';
import { connectResp } from './resp.mjs';
import { eventually } from './util.mjs';

export const CLUSTER_ARGS = [
  ...REPLICATION_ARGS,
  '--cluster-enabled', 'yes',
  '--cluster-config-file', 'nodes.conf',
  '--cluster-node-timeout', '2000',
];

// One line of CLUSTER NODES -> { id, port, flags, role, masterId, slots: [[from, to], ...], failed }.
function parseNodeLine(line) {
  const [id, addr, flags, master, , , , , ...slots] = line.trim().split(' ');
  const flagList = flags.split(',');
  return {
    id,
    port: Number(addr.split('@')[0].split(':').pop()),
    flags: flagList,
    role: flagList.includes('master') ? 'master' : 'replica',
    masterId: master === '-' ? null : master,
    failed: flagList.includes('fail') || flagList.includes('fail?'),
    // importing/migrating markers ("[123->-id]") are not ownership
    slots: slots.filter((s) => !s.startsWith('[')).map((s) => s.split('-').map(Number)).map(([a, b]) => [a, b ?? a]),
  };
}

// CLUSTER SLOTS of one node as a comparable signature: "from-to:port,port;..." (master first).
async function slotsSignature(node, certs) {
  const conn = await connectResp(node.port, '127.0.0.1', certs ? tlsSocketOptions(certs) : null);
  try {
    const slots = await conn.command('CLUSTER', 'SLOTS');
    const ranges = slots.map(([from, to, ...addrs]) => `${from}-${to}:${addrs.map((a) => a[1]).join(',')}`);
    return { ranges: ranges.sort().join(';'), addresses: new Set(slots.flatMap(([, , ...addrs]) => addrs.map((a) => a[1]))).size };
  } finally {
    conn.close();
  }
}

/**
 * startCluster({ masters = 3, replicasPerMaster = 1, certs }) ->
 *   { nodes, masters(), replicas(), seeds, slotOf(key), masterForSlot(slot), masterForKey(key), tagPerMaster(label), refresh(),
 *     waitHealthy(), failover(replica), kill(node), restart(node), migrateSlot(slot, from, to, opts), stop() }
 * Each node is a startRedis() server plus { id, role, masterId, slots }, kept current by refresh().
 * `certs` (tls.mjs makeCertificates()): every node speaks mutual TLS only (clients, the cluster bus and
 * replication); `port` is its TLS port, which CLUSTER SLOTS announces.
 */
export async function startCluster({ masters = 3, replicasPerMaster = 1, certs } = {}) {
  const count = masters * (1 + replicasPerMaster);
  const startNode = () => (certs
    ? startTlsRedis({ certs, args: [...CLUSTER_ARGS, '--tls-cluster', 'yes', '--tls-replication', 'yes',
      // Nodes connect to each other as clients: with the client certificate (the server's is serverAuth only).
      '--tls-client-cert-file', certs.files.clientCert, '--tls-client-key-file', certs.files.clientKey] })
    : startRedis({ args: CLUSTER_ARGS }));
  const nodes = await Promise.all(Array.from({ length: count }, startNode));
  const running = () => nodes.filter((n) => n.running);

  const cluster = {
    nodes,
    get seeds() { return nodes.map((n) => `127.0.0.1:${n.port}`); },
    masters: () => nodes.filter((n) => n.running && n.role === 'master'),
    replicas: () => nodes.filter((n) => n.running && n.role === 'replica'),

    // Reads CLUSTER NODES from a running node and updates every node's id, role, master and slots.
    async refresh(from = running()[0]) {
      const lines = (await from.cli('cluster', 'nodes')).split('\n').filter(Boolean).map(parseNodeLine);
      for (const entry of lines) {
        const node = nodes.find((n) => n.port === entry.port);
        if (node) Object.assign(node, { id: entry.id, role: entry.role, masterId: entry.masterId, slots: entry.slots, failed: entry.failed });
      }
      return nodes;
    },

    async slotOf(key) {
      return Number(await running()[0].cli('cluster', 'keyslot', key));
    },

    async masterForSlot(slot) {
      await cluster.refresh();
      return nodes.find((n) => n.running && n.role === 'master' && n.slots.some(([a, b]) => slot >= a && slot <= b));
    },

    async masterForKey(key) {
      return cluster.masterForSlot(await cluster.slotOf(key));
    },

    /** A hash tag per master, so a test can aim at one shard: Map { masterPort => '{tag}' }. */
    async tagPerMaster(label) {
      const tags = new Map();
      for (let i = 0; tags.size < cluster.masters().length; i++) {
        const tag = `{${label}${i}}`;
        const owner = await cluster.masterForKey(tag);
        if (!tags.has(owner.port)) tags.set(owner.port, tag);
      }
      return tags;
    },

    // The replica (running) that follows `master`.
    async replicaOf(master) {
      await cluster.refresh();
      return nodes.find((n) => n.running && n.role === 'replica' && n.masterId === master.id);
    },

    // Until every running node says cluster_state:ok and all agree on CLUSTER SLOTS, listing
    // `addresses` nodes (default: every running node, i.e. all replicas attached and synced).
    async waitHealthy({ addresses, ms = 30000 } = {}) {
      let last;
      const ok = await eventually(async () => {
        const live = running();
        const want = addresses ?? live.length;
        try {
          const states = await Promise.all(live.map((n) => n.cli('cluster', 'info')));
          if (!states.every((s) => s.includes('cluster_state:ok'))) return (last = 'cluster_state not ok'), false;
          const sigs = await Promise.all(live.map((n) => slotsSignature(n, certs)));
          if (!sigs.every((s) => s.ranges === sigs[0].ranges)) return (last = 'nodes disagree on CLUSTER SLOTS'), false;
          if (sigs[0].addresses !== want) return (last = `CLUSTER SLOTS lists ${sigs[0].addresses} of ${want} nodes`), false;
          return true;
        } catch (err) {
          last = err.message;
          return false;
        }
      }, ms, 100);
      if (!ok) throw new Error(`cluster not healthy within ${ms} ms: ${last}`);
      await cluster.refresh();
    },

    /** CLUSTER FAILOVER (coordinated, no acknowledged write lost) on a replica; resolves once it is master everywhere. */
    async failover(replica, { mode } = {}) {
      await replica.cli('cluster', 'failover', ...(mode ? [mode] : []));
      const promoted = await eventually(async () => (await replica.cli('role')).startsWith('master'), 15000);
      if (!promoted) throw new Error(`replica ${replica.port} was not promoted`);
      await cluster.waitHealthy();
      return replica;
    },

    /** SIGKILL a node (a master's slots go CLUSTERDOWN until its replica is promoted). */
    async kill(node) {
      await node.kill('SIGKILL');
    },

    /** Start a killed node again on its port and dir (nodes.conf kept): it rejoins, as a replica if it lost its slots. */
    async restart(node) {
      await node.restart();
      await cluster.waitHealthy();
    },

    /**
     * Live resharding of one slot: IMPORTING on `to`, MIGRATING on `from`, MIGRATE keys in batches of `batch`
     * (pausing `pauseMs` between batches, so clients see ASK meanwhile), then SETSLOT NODE everywhere (MOVED).
     * Resolves { keys } moved.
     */
    async migrateSlot(slot, from, to, { batch = 10, pauseMs = 0 } = {}) {
      await cluster.refresh();
      await to.cli('cluster', 'setslot', slot, 'importing', from.id);
      await from.cli('cluster', 'setslot', slot, 'migrating', to.id);
      let moved = 0;
      for (;;) {
        const keys = (await from.cli('cluster', 'getkeysinslot', slot, batch)).split('\n').filter(Boolean);
        if (keys.length === 0) break;
        const reply = await from.cli('migrate', '127.0.0.1', to.port, '', 0, 5000, 'keys', ...keys);
        if (reply !== 'OK' && reply !== 'NOKEY') throw new Error(`MIGRATE of slot ${slot} failed: ${reply}`);
        moved += keys.length;
        if (pauseMs) await sleep(pauseMs);
      }
      await to.cli('cluster', 'setslot', slot, 'node', to.id);
      await from.cli('cluster', 'setslot', slot, 'node', to.id);
      for (const m of cluster.masters().filter((n) => n !== from && n !== to)) {
        await m.cli('cluster', 'setslot', slot, 'node', to.id);
      }
      await cluster.waitHealthy();
      return { keys: moved };
    },

    async stop() {
      await Promise.allSettled(nodes.map((n) => n.stop()));
    },
  };

  try {
    const create = await runCli(nodes[0].port, [
      ...(certs ? tlsCliArgs(certs) : []), '--cluster', 'create', ...cluster.seeds, '--cluster-replicas', replicasPerMaster, '--cluster-yes',
    ], { timeout: 60000 });
    if (!create.includes('[OK] All 16384 slots covered')) throw new Error(`cluster create failed:\n${create}`);
    await cluster.waitHealthy({ addresses: count });
    if (cluster.masters().length !== masters) throw new Error(`expected ${masters} masters, got ${cluster.masters().length}`);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}
