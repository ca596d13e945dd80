// Read replicas of a standalone primary (issue 5): a primary + 2 replicas for the whole file, chosen
// through the environment as seed 000 writes it (REDIS_URL, REDIS_READ_REPLICAS=true,
// REDIS_READ_REPLICA_URLS). Each node's INFO commandstats tells who served what.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startReplicaSet } from './harness/replicas.mjs';
import { infoOf } from './harness/cli.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { runService } from './harness/child.mjs';
import { startLoad, describeErrors } from './harness/load.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

let set;

before(async () => {
  set = await startReplicaSet({ replicas: 2 });
});

after(async () => {
  await closeServices();
  await set?.stop();
});

function env000(extra = {}) {
  return {
    REDIS_URL: set.primary.url,
    REDIS_POOL_SIZE: '5',
    REDIS_READ_REPLICAS: 'true',
    REDIS_READ_REPLICA_URLS: set.replicas.map((r) => r.url).join(','),
    ...extra,
  };
}

// calls of one command on one node since the last CONFIG RESETSTAT
async function calls(node, command) {
  const line = (await infoOf(node, 'commandstats'))[`cmdstat_${command}`] ?? '';
  return Number(/calls=(\d+)/.exec(line)?.[1] ?? 0);
}

async function resetStats() {
  await Promise.all([set.primary, ...set.replicas].map((n) => n.cli('config', 'resetstat')));
}

// Write keys through the primary and wait until both replicas have them.
async function seedKeys(label, n) {
  const keys = Array.from({ length: n }, (_, i) => uniqueKey(`${label}${i}`));
  for (const k of keys) await set.primary.cli('set', k, `v:${k}`);
  await set.primary.cli('wait', set.replicas.length, 2000);
  // WAIT counts the replicas that acknowledged the offset; one still loading its first
  // (diskless) sync can acknowledge before it serves the data: check the keys themselves.
  const last = keys[keys.length - 1];
  for (const r of set.replicas) {
    await eventually(async () => (await r.cli('get', last)) === `v:${last}`, 5000, 20);
  }
  return keys;
}

test('seed 000: REDIS_READ_REPLICAS=true + REDIS_READ_REPLICA_URLS: getRedisService() reads and writes', async () => {
  const key = uniqueKey('replicas-seed');
  const res = await runService(env000(), `
    await svc.set(${JSON.stringify(key)}, 'through-primary');
    const health = await svc.healthCheck();
    return { mode: health.mode, healthy: health.healthy };
  `);
  assert.equal(res.error, undefined, `child failed: ${JSON.stringify(res.error)}`);
  assert.deepEqual(res.value, { mode: 'replicas', healthy: true });
  assert.equal(await set.primary.cli('get', key), 'through-primary');
});

test('reads go to the replicas (both used), writes to the primary', async () => {
  const keys = await seedKeys('rr', 20);
  const svc = openServiceFromEnv(env000({ REDIS_ENABLED: 'true' }));
  await svc.connect();
  await resetStats();
  const reads = [];
  for (let i = 0; i < 200; i++) reads.push(await svc.get(keys[i % keys.length]));
  assert.deepEqual(reads, reads.map((_, i) => `v:${keys[i % keys.length]}`));
  const written = uniqueKey('rr-write');
  assert.equal(await svc.set(written, 'w'), 'OK');
  const perReplica = await Promise.all(set.replicas.map((r) => calls(r, 'get')));
  const onPrimary = await calls(set.primary, 'get');
  assert.equal(onPrimary, 0, `the primary served ${onPrimary} of 200 GETs (replicas: ${perReplica})`);
  assert.equal(perReplica[0] + perReplica[1], 200, `replicas served ${perReplica}`);
  assert.ok(perReplica.every((n) => n > 0), `one replica was never chosen: ${perReplica}`);
  assert.equal(await calls(set.primary, 'set'), 1, 'the write went to the primary');
  assert.equal(await set.primary.cli('get', written), 'w');
});

test('healthCheck() and getStats() report the primary and each replica with its latency', async () => {
  const svc = openServiceFromEnv(env000({ REDIS_ENABLED: 'true' }));
  await svc.connect();
  const health = await svc.healthCheck();
  assert.equal(health.healthy, true, JSON.stringify(health));
  const t = health.topology;
  assert.equal(t.mode, 'replicas');
  assert.equal(t.nodeCount, 1 + set.replicas.length);
  const port = (n) => Number(n.address.split(':').pop());
  assert.deepEqual(t.nodes.map((n) => [n.role, port(n)]), [['master', set.primary.port], ...set.replicas.map((r) => ['replica', r.port])]);
  for (const n of t.nodes) {
    assert.equal(n.healthy, true, JSON.stringify(n));
    assert.equal(typeof n.latency, 'number');
  }
  assert.equal((await svc.getStats()).topology.nodes.length, 1 + set.replicas.length);
});

test('a killed replica does not fail reads (they go to the other replica or the primary)', async (t) => {
  const keys = await seedKeys('rk', 20);
  const svc = openServiceFromEnv(env000({ REDIS_ENABLED: 'true', REDIS_COMMAND_TIMEOUT: '2000' }));
  await svc.connect();
  await resetStats();
  const load = startLoad(async (id) => {
    const k = keys[id % keys.length];
    const v = await svc.get(k);
    if (v !== `v:${k}`) throw new Error(`read ${JSON.stringify(v)} for ${k}`);
    return v;
  }, { concurrency: 4 });
  await sleep(200);
  const victim = set.replicas[0];
  // Only meaningful if the victim was serving reads when it died.
  const servedByVictim = await calls(victim, 'get');
  await victim.kill('SIGKILL');
  await sleep(1000);
  const { acked, errors } = await load.stop();
  t.diagnostic(`reads ok ${acked.length}, failed ${errors.length}; the killed replica had served ${servedByVictim}`);
  assert.ok(servedByVictim > 0, 'the killed replica served no read before it died: reads do not use replicas');
  assert.equal(errors.length, 0, `reads failed after a replica was killed:\n${describeErrors(errors)}`);
  assert.ok(acked.length > 100, `only ${acked.length} reads`);
});
