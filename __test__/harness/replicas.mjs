// A standalone primary with read replicas (`replicaof`), for REDIS_READ_REPLICAS tests.
import { startRedis, REPLICATION_ARGS } from './redis.mjs';
import { infoOf } from './cli.mjs';
import { eventually } from './util.mjs';

// Until the replica reports master_link_status:up (synced with its primary).
export async function waitLinkUp(replica, ms = 15000) {
  const up = await eventually(async () => (await infoOf(replica, 'replication')).master_link_status === 'up', ms);
  if (!up) throw new Error(`replica ${replica.port} did not sync within ${ms} ms`);
}

/**
 * startReplicaSet({ replicas = 2, args = [] }) -> { primary, replicas: [server], stop() }
 * Every replica is synced (master_link_status:up) and the primary counts them as connected.
 */
export async function startReplicaSet({ replicas: count = 2, args = [] } = {}) {
  const primary = await startRedis({ args: [...REPLICATION_ARGS, ...args] });
  const replicas = await Promise.all(
    Array.from({ length: count }, () =>
      startRedis({ args: [...REPLICATION_ARGS, ...args, '--replicaof', '127.0.0.1', String(primary.port)] })),
  );
  const set = {
    primary,
    replicas,
    async stop() {
      await Promise.allSettled([primary, ...replicas].map((s) => s.stop()));
    },
  };
  try {
    await Promise.all(replicas.map((r) => waitLinkUp(r)));
    const seen = await eventually(async () => Number((await infoOf(primary, 'replication')).connected_slaves) === count, 10000);
    if (!seen) throw new Error(`primary ${primary.port} does not list ${count} replicas`);
  } catch (err) {
    await set.stop();
    throw err;
  }
  return set;
}
