// A Sentinel group: 1 master + replicas + sentinels (redis-server --sentinel with a generated config),
// for REDIS_SENTINEL tests. Timings follow FAULTS.md: down-after 1000 ms, failover-timeout 5000 ms.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startRedis } from './redis.mjs';
import { parsePairs } from './cli.mjs';
import { connectResp } from './resp.mjs';
import { startReplicaSet } from './replicas.mjs';
import { eventually } from './util.mjs';

function sentinelConfig({ masterName, masterPort, quorum, downAfterMs, failoverTimeoutMs }) {
  return [
    `sentinel monitor ${masterName} 127.0.0.1 ${masterPort} ${quorum}`,
    `sentinel down-after-milliseconds ${masterName} ${downAfterMs}`,
    `sentinel failover-timeout ${masterName} ${failoverTimeoutMs}`,
    `sentinel parallel-syncs ${masterName} 2`,
    '',
  ].join('\n');
}

/**
 * startSentinelGroup({ masterName, replicas = 2, sentinels = 3, quorum = 2, downAfterMs = 1000, failoverTimeoutMs = 5000 })
 *   -> { masterName, master, replicas, nodes, sentinels, currentMaster(), failover(), waitMaster(pred), waitSettled(), stop() }
 * Ready when every sentinel sees all replicas and the other sentinels.
 */
export async function startSentinelGroup({
  masterName = 'mymaster',
  replicas: replicaCount = 2,
  sentinels: sentinelCount = 3,
  quorum = 2,
  downAfterMs = 1000,
  failoverTimeoutMs = 5000,
} = {}) {
  const data = await startReplicaSet({ replicas: replicaCount });
  const nodes = [data.primary, ...data.replicas];
  const conf = sentinelConfig({ masterName, masterPort: data.primary.port, quorum, downAfterMs, failoverTimeoutMs });
  const sentinels = [];
  const group = {
    masterName,
    master: data.primary,
    replicas: data.replicas,
    nodes,
    sentinels,
    // The data node the sentinels currently name as master (asks the first sentinel that answers).
    async currentMaster() {
      for (const s of sentinels.filter((x) => x.running)) {
        try {
          const [, port] = (await s.cli('sentinel', 'get-master-addr-by-name', masterName)).split('\n');
          return nodes.find((n) => n.port === Number(port));
        } catch {
          // try the next sentinel
        }
      }
      throw new Error('no sentinel answered get-master-addr-by-name');
    },
    // Until every running sentinel names a master that satisfies pred(node); resolves that node.
    async waitMaster(pred, ms = 15000) {
      let node;
      const ok = await eventually(async () => {
        const seen = await Promise.all(sentinels.filter((x) => x.running).map(async (s) => {
          const [, port] = (await s.cli('sentinel', 'get-master-addr-by-name', masterName)).split('\n');
          return nodes.find((n) => n.port === Number(port));
        }));
        node = seen[0];
        return seen.every((n) => n && n === node && pred(n));
      }, ms, 50);
      if (!ok) throw new Error(`sentinels did not agree on a new master within ${ms} ms`);
      return node;
    },
    // Until every running sentinel sees the master up (no failover in progress) and at least `replicas`
    // replicas up with their link to the master ok, so a failover can find a good replica. After a
    // failover, sentinel turns the old master into a replica only after about 10 s (FAULTS.md).
    async waitSettled({ replicas: want = nodes.length - 1, ms = 20000 } = {}) {
      let last;
      const ok = await eventually(async () => {
        for (const s of sentinels.filter((x) => x.running)) {
          const master = parsePairs(await s.cli('sentinel', 'master', masterName));
          if (master.flags !== 'master') return (last = `sentinel ${s.port}: master flags ${master.flags}`), false;
          const conn = await connectResp(s.port);
          try {
            const replicas = (await conn.command('SENTINEL', 'REPLICAS', masterName))
              .map((r) => parsePairs(r.map(String).join('\n')));
            const good = replicas.filter((r) => r.flags === 'slave' && r['master-link-status'] === 'ok');
            if (good.length < want) return (last = `sentinel ${s.port}: ${good.length} good replicas`), false;
          } finally {
            conn.close();
          }
        }
        return true;
      }, ms, 100);
      if (!ok) throw new Error(`sentinel group not settled within ${ms} ms: ${last}`);
    },
    /** SENTINEL FAILOVER; resolves { from, to, switchedAt } once every sentinel names the new master. */
    async failover() {
      const from = await group.currentMaster();
      await sentinels[0].cli('sentinel', 'failover', masterName);
      const to = await group.waitMaster((n) => n !== from);
      const switchedAt = Date.now();
      const promoted = await eventually(async () => (await to.cli('role')).startsWith('master'), 10000);
      if (!promoted) throw new Error(`${to.port} was named master but does not report role master`);
      return { from, to, switchedAt };
    },
    async stop() {
      await Promise.allSettled([...sentinels, ...nodes].map((s) => s.stop()));
    },
  };
  try {
    sentinels.push(...(await Promise.all(Array.from({ length: sentinelCount }, () => startRedis({
      sentinel: true,
      configFile: async (dir) => {
        const file = path.join(dir, 'sentinel.conf');
        await writeFile(file, conf);
        return file;
      },
    })))));
    const ready = await eventually(async () => {
      const views = await Promise.all(sentinels.map(async (s) => parsePairs(await s.cli('sentinel', 'master', masterName))));
      return views.every((v) => Number(v['num-slaves']) === replicaCount && Number(v['num-other-sentinels']) === sentinelCount - 1);
    }, 20000, 100);
    if (!ready) throw new Error('sentinels did not discover the replicas and each other in 20 s');
    await group.waitSettled();
  } catch (err) {
    await group.stop();
    throw err;
  }
  return group;
}
