// A Redis Cluster over mutual TLS (issue 19, part 1): every node speaks TLS only (clients, cluster bus,
// replication). The service routes ordinary commands on one TLS lane per master, as over plain TCP: keys land
// on their owners, cross-slot calls split and merge, the near cache's broadcast tracking runs over TLS too,
// and a SIGKILLed master leaves the other shards unaffected (no call of theirs waits for the dead node).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './harness/cluster.mjs';
import { makeCertificates } from './harness/tls.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { killMasterUnderLoad, assertShardKill } from './harness/shard-kill.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const COMMAND_TIMEOUT = 4000;

let certs;
let cluster;

before(async () => {
  certs = await makeCertificates();
  cluster = await startCluster({ masters: 3, replicasPerMaster: 1, certs });
}, { timeout: 90000 });

after(async () => {
  await closeServices();
  await cluster?.stop();
  await certs?.cleanup();
});

// rediss:// seeds and the PEM variables, as a deployment would set them.
function tlsClusterService(env = {}, options = {}) {
  return openServiceFromEnv({
    REDIS_CLUSTER_MODE: 'true',
    REDIS_CLUSTER_NODES: cluster.masters().map((n) => `rediss://127.0.0.1:${n.port}`).join(','),
    REDIS_ENABLED: 'true',
    REDIS_TLS_CA: certs.pem.ca,
    REDIS_TLS_CERT: certs.pem.clientCert,
    REDIS_TLS_KEY: certs.pem.clientKey,
    ...env,
  }, { commandTimeout: COMMAND_TIMEOUT, ...options });
}

test('a TLS lane per master: keys land on their owners, cross-slot mget and mset split and merge', async () => {
  const svc = tlsClusterService();
  await svc.connect();
  await eventually(async () => (await svc.getStats()).lanes.open === 3, 10000, 50);
  assert.deepEqual((await svc.getStats()).lanes, { open: 3, tls: true }, 'a TLS lane per master');
  const keys = Array.from({ length: 30 }, (_, i) => uniqueKey(`tls-owner-${i}`));
  await Promise.all(keys.map((k) => svc.set(k, `v:${k}`)));
  const owners = new Set();
  for (const k of keys) {
    const owner = await cluster.masterForKey(k);
    owners.add(owner.port);
    assert.equal(await owner.cli('get', k), `v:${k}`, `${k} on its owner`);
  }
  assert.equal(owners.size, 3, 'the keys span every master');
  const missing = uniqueKey('tls-missing');
  assert.deepEqual(await svc.mget(...keys, missing), [...keys.map((k) => `v:${k}`), null]);
  const pairs = Object.fromEntries(keys.map((k) => [k, `w:${k}`]));
  assert.equal(await svc.mset(pairs), 'OK');
  assert.deepEqual(await svc.mget(keys), keys.map((k) => `w:${k}`));
  // 2,000 GETs of one tick, spread over the shards: every reply in place.
  const many = await Promise.all(Array.from({ length: 2000 }, (_, i) => svc.get(keys[i % keys.length])));
  many.forEach((v, i) => assert.equal(v, `w:${keys[i % keys.length]}`));
});

test('the near cache over TLS: broadcast tracking on every master, another client\'s write invalidates', async () => {
  const svc = tlsClusterService({ REDIS_NEAR_CACHE: 'true' });
  await svc.connect();
  await eventually(async () => (await svc.getStats()).nearCache.tracking === true, 10000, 20);
  const tags = await cluster.tagPerMaster(uniqueKey('tls-near'));
  for (const [port, tag] of tags) {
    const owner = cluster.masters().find((m) => m.port === port);
    const key = `${tag}:k`;
    await owner.cli('set', key, 'first');
    // The SET's own invalidation may still be on its way and drop the first read's entry: read until a hit.
    const hits = (await svc.getStats()).nearCache.hits;
    await eventually(async () => (await svc.get(key)) === 'first' && (await svc.getStats()).nearCache.hits > hits, 5000, 10);
    assert.ok((await svc.getStats()).nearCache.hits > hits, `a hit for the key on ${port}`);
    await owner.cli('set', key, 'second');
    await eventually(async () => (await svc.get(key)) === 'second', 5000, 10);
  }
});

test('SIGKILL of a TLS master: the other shards keep serving with no stall; its shard recovers after the promotion', { timeout: 90000 }, async (t) => {
  const svc = tlsClusterService();
  svc.on('error', () => {});
  await svc.connect();
  await eventually(async () => (await svc.getStats()).lanes.open === 3, 10000, 50);
  // The killed shard's calls share the ticks (and so the batches) of the survivors' calls.
  const run = await killMasterUnderLoad(cluster, svc, { label: `tls-kill-${process.pid}-`, shardConcurrency: 4, shardPauseMs: 0 });
  assertShardKill(t, run);
  assert.ok(run.during.length > 50, `the other shards served while the master was down (${run.during.length} calls)`);
  // A stall would hold them until the command timeout.
  assert.ok(run.slowest < COMMAND_TIMEOUT / 4, `a call on another shard took ${run.slowest} ms while the master was down`);
});
