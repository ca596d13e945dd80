// Redis Cluster (issue 5): one real 6-node cluster (3 masters + 3 replicas) for the whole file,
// chosen through the environment exactly as the seeds write it (001: REDIS_CLUSTER + REDIS_NODE{N}_*,
// 000: REDIS_CLUSTER_MODE + REDIS_CLUSTER_NODES URLs, 004: REDIS_URL + REDIS_CLUSTER_NODES host:port).
// The faults (failover, SIGKILL, resharding) run last, each leaving the cluster healthy.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from './harness/cluster.mjs';
import { infoOf } from './harness/cli.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { runService } from './harness/child.mjs';
import { startLoad, describeErrors } from './harness/load.mjs';
import { killMasterUnderLoad, assertShardKill } from './harness/shard-kill.mjs';
import { uniqueKey, captureError, assertCode, settleWithin } from './harness/util.mjs';
import { loadResilis } from './harness/package.mjs';

let cluster;

before(async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 1 });
});

after(async () => {
  await closeServices();
  await cluster?.stop();
});

// Seed 001's variables, as config.rs parses them, for three seed nodes.
function env001(extra = {}) {
  const env = { REDIS_CLUSTER: 'true', REDIS_CLUSTER_MAX_REDIRECTIONS: '16', REDIS_CLUSTER_RETRY_DELAY_ON_FAILOVER: '100' };
  cluster.nodes.slice(0, 3).forEach((n, i) => {
    env[`REDIS_NODE${i + 1}_HOST`] = '127.0.0.1';
    env[`REDIS_NODE${i + 1}_PORT`] = String(n.port);
  });
  return { ...env, ...extra };
}

const seedEnvs = {
  '001: REDIS_CLUSTER=true + REDIS_NODE{N}_HOST/PORT': () => env001(),
  '000: REDIS_CLUSTER_MODE=true + REDIS_CLUSTER_NODES=redis://...': () => ({
    REDIS_CLUSTER_MODE: 'true',
    REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 2).map((n) => `redis://127.0.0.1:${n.port}`).join(','),
    REDIS_POOL_SIZE: '5',
  }),
  '004: REDIS_URL + REDIS_CLUSTER_NODES=host:port,... + REDIS_ENABLED=true': () => ({
    REDIS_URL: `redis://127.0.0.1:${cluster.nodes[0].port}`,
    REDIS_CLUSTER_NODES: cluster.nodes.slice(0, 3).map((n) => `127.0.0.1:${n.port}`).join(','),
    REDIS_ENABLED: 'true',
  }),
};

// The service the in-process tests use: seed 001 plus REDIS_ENABLED=true (no silent memory mode).
function clusterService(extra = {}) {
  return openServiceFromEnv(env001({ REDIS_ENABLED: 'true', ...extra }));
}

// Where each key lives: its master (by CLUSTER KEYSLOT + CLUSTER NODES), read there directly.
async function storedOnOwners(keys) {
  const out = [];
  for (const key of keys) {
    const owner = await cluster.masterForKey(key);
    out.push({ key, owner: owner.port, value: await owner.cli('get', key) });
  }
  return out;
}

// n fresh keys, each set through svc to `${prefix}${key}`.
async function writeKeys(svc, label, n, prefix) {
  const keys = Array.from({ length: n }, (_, i) => uniqueKey(`${label}${i}`));
  for (const k of keys) await svc.set(k, `${prefix}${k}`);
  return keys;
}


for (const [seed, envOf] of Object.entries(seedEnvs)) {
  test(`seed ${seed}: getRedisService() spreads keys over all three masters`, async () => {
    const keys = Array.from({ length: 30 }, (_, i) => uniqueKey(`spread${i}`));
    const res = await runService(envOf(), `
      const keys = ${JSON.stringify(keys)};
      for (const k of keys) await svc.set(k, 'v:' + k);
      const read = [];
      for (const k of keys) read.push(await svc.get(k));
      const health = await svc.healthCheck();
      return { read, mode: health.mode, healthy: health.healthy };
    `);
    assert.equal(res.error, undefined, `child failed: ${JSON.stringify(res.error)}`);
    assert.deepEqual(res.value.read, keys.map((k) => `v:${k}`));
    assert.equal(res.value.mode, 'cluster');
    assert.equal(res.value.healthy, true);
    const stored = await storedOnOwners(keys);
    for (const s of stored) assert.equal(s.value, `v:${s.key}`, `${s.key} is not on its slot's master ${s.owner}`);
    const owners = new Set(stored.map((s) => s.owner));
    assert.equal(owners.size, 3, `keys landed on ${owners.size} masters only`);
  });
}

test('cross-slot mget returns the values in the caller\'s order (missing keys as null)', async () => {
  const svc = clusterService();
  const keys = await writeKeys(svc, 'mget', 12, 'v:');
  const missing = uniqueKey('mget-missing');
  const asked = [...keys.slice(0, 6), missing, ...keys.slice(6)];
  assert.ok(new Set(await Promise.all(asked.map((k) => cluster.slotOf(k)))).size > 1, 'keys span several slots');
  const got = await settleWithin(svc.mget(asked), 10000, 'mget');
  assert.deepEqual(got, asked.map((k) => (k === missing ? null : `v:${k}`)));
});

test('cross-slot mset writes every key on its own master', async () => {
  const svc = clusterService();
  const keys = Array.from({ length: 12 }, (_, i) => uniqueKey(`mset${i}`));
  const reply = await settleWithin(svc.mset(Object.fromEntries(keys.map((k) => [k, `m:${k}`]))), 10000, 'mset');
  assert.equal(reply, 'OK');
  for (const s of await storedOnOwners(keys)) assert.equal(s.value, `m:${s.key}`, `${s.key} on ${s.owner}`);
});

test('cross-slot del and exists count keys on every master', async () => {
  const svc = clusterService();
  const keys = await writeKeys(svc, 'del', 9, '');
  assert.equal(await settleWithin(svc.exists(...keys, uniqueKey('absent')), 10000, 'exists'), keys.length);
  assert.equal(await settleWithin(svc.del(...keys), 10000, 'del'), keys.length);
  for (const s of await storedOnOwners(keys)) assert.equal(s.value, '', `${s.key} still on ${s.owner}`);
});

test('multi() on a key of every master runs the transaction on that key\'s master and resolves its replies', async () => {
  const svc = clusterService();
  const tags = await cluster.tagPerMaster('multi');
  for (const [port, tag] of tags) {
    const [k, other] = [uniqueKey(`${tag}:a`), uniqueKey(`${tag}:b`)];
    const replies = await settleWithin(svc.multi().set(k, '1').incr(k).set(other, 'x').pttl(k).exec(), 10000, 'multi');
    assert.deepEqual(replies, [[null, 'OK'], [null, 2], [null, 'OK'], [null, -1]], `transaction on the master ${port}`);
    const owner = await cluster.masterForKey(k);
    assert.equal(owner.port, port);
    assert.equal(await owner.cli('get', k), '2');
  }
});

test("nodes() as ioredis' Cluster#nodes(): one handle per master, each command on that node only", async () => {
  const svc = clusterService();
  await svc.ping();
  const nodes = svc.nodes();
  assert.deepEqual(nodes.map((n) => n.options.port).sort(), cluster.masters().map((m) => m.port).sort());
  assert.deepEqual(svc.nodes('master').map((n) => n.options.port).sort(), nodes.map((n) => n.options.port).sort());
  const tags = await cluster.tagPerMaster('nodes');
  for (const [port, tag] of tags) {
    const k = uniqueKey(`${tag}:n`);
    await svc.set(k, 'v');
    const node = nodes.find((n) => n.options.port === port);
    assert.equal(await node.call('EXISTS', k), 1, `${k} on ${port}`);
    assert.deepEqual(await node.send_command('CONFIG', ['GET', 'port']), ['port', String(port)]);
    assert.deepEqual(await node.sendCommand(['PUBSUB', 'NUMSUB', 'none']), ['none', 0]);
  }
  assert.equal((await nodes[0].client('LIST')).includes('cmd=client'), true);
  assertCode(await captureError(() => svc.nodes('slave')), 'ERR_RESILIS_UNSUPPORTED');
  assertCode(await captureError(() => svc.nodes('replicas')), 'ERR_RESILIS_ARGUMENT', { type: TypeError });
});

test('REDIS_CLUSTER_SCALE_READS=slave (seed 001) sends reads to the replicas', async () => {
  const keys = await writeKeys(clusterService(), 'scale', 30, 'r:');
  for (const m of cluster.masters()) await m.cli('wait', '1', '2000');
  const reader = clusterService({ REDIS_CLUSTER_SCALE_READS: 'slave' });
  await reader.connect();
  await Promise.all(cluster.nodes.map((n) => n.cli('config', 'resetstat')));
  const got = [];
  for (const k of keys) got.push(await reader.get(k));
  assert.deepEqual(got, keys.map((k) => `r:${k}`));
  const gets = async (n) => Number(/calls=(\d+)/.exec((await infoOf(n, 'commandstats')).cmdstat_get ?? '')?.[1] ?? 0);
  const onMasters = (await Promise.all(cluster.masters().map(gets))).reduce((a, b) => a + b, 0);
  const onReplicas = (await Promise.all(cluster.replicas().map(gets))).reduce((a, b) => a + b, 0);
  assert.equal(onReplicas, keys.length, `replicas served ${onReplicas} GETs, masters ${onMasters}`);
});

test('an ASK/MOVED loop ends in a routing error within the redirection limit, not a hang', async () => {
  const svc = clusterService();
  await svc.connect();
  const key = uniqueKey('loop');
  const slot = await cluster.slotOf(key);
  const source = await cluster.masterForSlot(slot);
  const target = cluster.masters().find((m) => m !== source);
  // MIGRATING on the source only: the source answers ASK (key absent), the target (not importing)
  // answers MOVED back to the source, forever.
  await source.cli('cluster', 'setslot', slot, 'migrating', target.id);
  try {
    const started = Date.now();
    const err = await settleWithin(captureError(() => svc.get(key), 'get in a redirection loop'), 10000, 'get in a redirection loop');
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.notEqual(err.code, 'ERR_RESILIS_TIMEOUT', `ended by the command timeout, not the redirection limit: ${err.message}`);
    assert.match(err.message, /redirect|MOVED|ASK/i);
  } finally {
    await source.cli('cluster', 'setslot', slot, 'stable');
  }
  assert.equal(await svc.set(key, 'after'), 'OK');
});

test('invalidatePattern of 10,000 keys visits every master with SCAN (never KEYS) and deletes all and only the matches', { timeout: 90000 }, async () => {
  const svc = clusterService();
  const { createRedisCacheService } = loadResilis();
  const cache = createRedisCacheService({ service: svc });
  const prefix = uniqueKey('inv');
  const matching = Array.from({ length: 10000 }, (_, i) => `${prefix}:user:${i}`);
  const others = [
    ...Array.from({ length: 300 }, (_, i) => `${prefix}:keep:${i}`),
    ...Array.from({ length: 30 }, (_, i) => `${prefix}:users:${i}`), // 'user:*' does not match 'users:'
  ];
  const all = [...matching, ...others];
  for (let i = 0; i < all.length; i += 1000) {
    await svc.mset(Object.fromEntries(all.slice(i, i + 1000).map((k) => [k, 'v'])));
  }
  const count = (m, pattern) => m.cli('eval', "return #redis.call('keys', ARGV[1])", '0', pattern).then(Number);
  const before = await Promise.all(cluster.masters().map((m) => count(m, `${prefix}:user:*`)));
  assert.equal(before.reduce((a, b) => a + b, 0), matching.length);
  assert.ok(before.every((n) => n > 0), `the keys span every master: ${before}`);

  const nodes = await svc.scanNodes();
  assert.deepEqual(nodes.map((n) => Number(n.address.split(':').pop())).sort(), cluster.masters().map((m) => m.port).sort());
  await Promise.all(cluster.nodes.filter((n) => n.running).map((n) => n.cli('config', 'resetstat')));
  const deleted = await settleWithin(cache.invalidatePattern(`${prefix}:user:*`), 60000, 'invalidatePattern');
  const stats = await Promise.all(cluster.masters().map((m) => m.cli('info', 'commandstats')));
  assert.equal(deleted, matching.length);
  for (const [i, m] of cluster.masters().entries()) {
    assert.doesNotMatch(stats[i], /cmdstat_keys:/, `KEYS was sent to ${m.port}`);
    assert.match(stats[i], /cmdstat_scan:calls=\d+/, `master ${m.port} was not scanned`);
  }
  const after = await Promise.all(cluster.masters().map((m) => count(m, `${prefix}:user:*`)));
  assert.deepEqual(after, after.map(() => 0), 'matching keys left behind');
  const kept = await Promise.all(cluster.masters().map((m) => count(m, `${prefix}:*`)));
  assert.equal(kept.reduce((a, b) => a + b, 0), others.length, 'a key outside the pattern was deleted');
  assert.equal(await cache.invalidatePattern(`${prefix}:user:*`), 0);
});

test('healthCheck() and getStats() report the cluster: state, every node with its role, each master\'s latency', async () => {
  const svc = clusterService();
  await svc.connect();
  await cluster.refresh();
  const health = await svc.healthCheck();
  assert.equal(health.healthy, true, JSON.stringify(health));
  const t = health.topology;
  assert.equal(t.mode, 'cluster');
  assert.equal(t.clusterState, 'ok');
  assert.equal(t.clusterSize, 3);
  assert.equal(t.nodeCount, cluster.nodes.filter((n) => n.running).length);
  const port = (n) => Number(n.address.split(':').pop());
  const masters = t.nodes.filter((n) => n.role === 'master');
  assert.deepEqual(masters.map(port).sort(), cluster.masters().map((m) => m.port).sort());
  for (const m of masters) {
    assert.equal(m.healthy, true, JSON.stringify(m));
    assert.equal(typeof m.latency, 'number');
    assert.ok(m.latency >= 0 && m.latency < 1000, `latency ${m.latency}`);
    assert.ok(m.slots > 0);
  }
  for (const r of t.nodes.filter((n) => n.role === 'replica')) {
    const master = cluster.nodes.find((n) => n.id === cluster.nodes.find((x) => x.port === port(r))?.masterId);
    assert.equal(port({ address: r.master }), master.port, `replica ${r.address} reports master ${r.master}`);
  }
  const stats = await svc.getStats();
  assert.equal(stats.topology.mode, 'cluster');
  assert.equal(stats.topology.clusterState, 'ok');
  assert.equal(stats.topology.nodes.filter((n) => n.role === 'master').length, 3);
});

test('live slot migration (ASK, then MOVED) under load: no caller-visible errors, no lost or repeated INCR', async () => {
  const svc = clusterService();
  const tag = `{mig-${process.pid}}`;
  const slot = await cluster.slotOf(tag);
  const from = await cluster.masterForSlot(slot);
  const to = cluster.masters().find((m) => m !== from);
  const counters = Array.from({ length: 60 }, (_, i) => `${tag}:counter:${i}`);
  for (const k of counters) await svc.set(k, '0');
  const created = [];
  const load = startLoad(async (id) => {
    const key = counters[id % counters.length];
    if (id % 5 === 0) {
      const fresh = `${tag}:new:${id}`;
      await svc.set(fresh, String(id));
      created.push(fresh);
      return null;
    }
    if (id % 5 === 1) return svc.get(key);
    return { key, n: await svc.incr(key) };
  }, { concurrency: 8 });
  await sleep(200);
  const { keys } = await cluster.migrateSlot(slot, from, to, { batch: 4, pauseMs: 20 });
  await sleep(300);
  const { acked, errors } = await load.stop();
  assert.ok(keys >= counters.length, `moved ${keys} keys`);
  assert.equal(errors.length, 0, `caller-visible errors during the migration:\n${describeErrors(errors)}`);
  assert.equal((await cluster.masterForSlot(slot)).port, to.port);
  const incrs = {};
  for (const a of acked) if (a.value && a.value.key) incrs[a.value.key] = (incrs[a.value.key] || 0) + 1;
  for (const k of counters) assert.equal(await to.cli('get', k), String(incrs[k] || 0), `${k}: acknowledged INCRs vs stored`);
  for (const k of created) assert.equal(await to.cli('exists', k), '1', `${k} written during the migration is missing`);
});

test('CLUSTER FAILOVER under a write load loses no acknowledged write (unique ids)', async (t) => {
  const svc = clusterService();
  const tags = [...(await cluster.tagPerMaster(`fo-${process.pid}-`)).values()];
  const lists = tags.map((tag) => `log:${tag}`);
  let promotedAt = Infinity;
  const load = startLoad((id) => svc.rpush(lists[id % lists.length], String(id)), { concurrency: 8 });
  await sleep(300);
  const master = await cluster.masterForKey(lists[0]);
  const replica = await cluster.replicaOf(master);
  await cluster.failover(replica);
  promotedAt = Date.now();
  await sleep(700);
  const { acked, errors } = await load.stop();
  const stored = [];
  for (const list of lists) {
    const owner = await cluster.masterForKey(list);
    stored.push(...(await owner.cli('lrange', list, 0, -1)).split('\n').filter(Boolean));
  }
  const storedSet = new Set(stored);
  const lost = acked.filter((a) => !storedSet.has(String(a.id)));
  t.diagnostic(`acked ${acked.length}, errors ${errors.length}, lost ${lost.length}`);
  assert.equal(lost.length, 0, `acknowledged writes lost: ${lost.slice(0, 10).map((a) => a.id).join(', ')}`);
  assert.equal(stored.length, storedSet.size, `${stored.length - storedSet.size} ids stored twice (a write was re-sent)`);
  assert.ok(!errors.some((e) => /did not settle/.test(e.message)), 'a call never settled');
  assert.ok(acked.some((a) => a.started > promotedAt), 'no write was acknowledged after the failover');
  assert.equal((await cluster.masterForKey(lists[0])).port, replica.port);
});

test('SIGKILL of a master: the other shards keep serving; its shard recovers after the promotion', async (t) => {
  const svc = clusterService();
  await svc.connect();
  assertShardKill(t, await killMasterUnderLoad(cluster, svc, { label: `kill-${process.pid}-` }));
});
