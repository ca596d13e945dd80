// The near cache on a Redis Cluster: every node runs broadcast tracking for us, so keys on every master are
// cached and invalidated; another client's write on the owning master is seen within the invalidation delay;
// a killed tracking connection turns caching off at once (nothing stale), and it resumes; a moved slot leaves
// nothing stale behind.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './harness/cluster.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

let cluster;

before(async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
});

after(async () => {
  await closeServices();
  await cluster?.stop();
});

function nearClusterService(extra = {}) {
  const env = { REDIS_CLUSTER: 'true', REDIS_ENABLED: 'true', REDIS_NEAR_CACHE: 'true', ...extra };
  cluster.nodes.slice(0, 3).forEach((n, i) => {
    env[`REDIS_NODE${i + 1}_HOST`] = '127.0.0.1';
    env[`REDIS_NODE${i + 1}_PORT`] = String(n.port);
  });
  return openServiceFromEnv(env);
}

async function nearStats(svc) {
  return (await svc.getStats()).nearCache;
}

// One key per master: hash tags chosen until each master owns one.
async function keyPerMaster(prefix) {
  const byPort = new Map();
  for (let i = 0; byPort.size < cluster.masters().length && i < 500; i++) {
    const key = `{${prefix}-${i}}:k`;
    const owner = await cluster.masterForKey(key);
    if (!byPort.has(owner.port)) byPort.set(owner.port, { key, owner });
  }
  return [...byPort.values()];
}

test('keys on every master are cached, counted, and served without a round trip', async () => {
  const svc = nearClusterService();
  await svc.connect();
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  const keys = await keyPerMaster(uniqueKey('ncc'));
  assert.equal(keys.length, 3);
  for (const { key, owner } of keys) await owner.cli('set', key, `v-${owner.port}`);
  for (const { key, owner } of keys) assert.equal(await svc.get(key), `v-${owner.port}`);
  const before = await nearStats(svc);
  const calls = async () => {
    let n = 0;
    for (const m of cluster.masters()) n += Number(((await m.cli('info', 'commandstats')).match(/cmdstat_get:calls=(\d+)/) || [0, 0])[1]);
    return n;
  };
  const callsBefore = await calls();
  for (let i = 0; i < 30; i++) {
    for (const { key, owner } of keys) assert.equal(await svc.get(key), `v-${owner.port}`);
  }
  assert.deepEqual(await svc.mget(keys.map((k) => k.key)), keys.map(({ owner }) => `v-${owner.port}`));
  const after = await nearStats(svc);
  assert.ok(after.hits - before.hits >= 90, `hits ${after.hits - before.hits}`);
  assert.equal(await calls(), callsBefore, 'no GET reached a master for the cached reads');
});

test("another client's write on the owning master is seen within the invalidation delay", async () => {
  const svc = nearClusterService();
  await svc.connect();
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  const keys = await keyPerMaster(uniqueKey('ncc-ext'));
  const delays = [];
  for (const { key, owner } of keys) {
    await owner.cli('set', key, 'old');
    assert.equal(await svc.get(key), 'old');
    assert.equal(await svc.get(key), 'old');
    for (let round = 1; round <= 5; round++) {
      const value = `new-${round}`;
      await owner.cli('set', key, value); // acknowledged here
      const acked = process.hrtime.bigint();
      let seen;
      while ((seen = await svc.get(key)) !== value) {
        assert.ok(Number(process.hrtime.bigint() - acked) / 1e6 < 200, `${key}: still ${seen} 200 ms after the write`);
        await new Promise((r) => setImmediate(r));
      }
      delays.push(Number(process.hrtime.bigint() - acked) / 1e6);
      for (let i = 0; i < 10; i++) assert.equal(await svc.get(key), value, 'an older value came back');
    }
  }
  delays.sort((a, b) => a - b);
  console.log(`# cluster invalidation delay: p50 ${delays[delays.length >> 1].toFixed(3)} ms, max ${delays[delays.length - 1].toFixed(3)} ms`);
});

test('a killed tracking connection turns caching off at once; it resumes on a new one', async () => {
  const name = uniqueKey('ncc-kill').replace(/:/g, '-');
  const svc = nearClusterService({ REDIS_CONNECTION_NAME: name });
  await svc.connect();
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  const [{ key, owner }] = await keyPerMaster(uniqueKey('ncc-k'));
  await owner.cli('set', key, 'before');
  assert.equal(await svc.get(key), 'before');
  assert.equal(await svc.get(key), 'before');
  const list = await owner.cli('client', 'list');
  const tracker = list.split('\n').find((l) => l.includes(` name=${name}-tracking `));
  assert.ok(tracker, 'the node has a tracking connection named <connectionName>-tracking');
  await owner.cli('client', 'kill', 'id', tracker.match(/^id=(\d+)/)[1]);
  await eventually(async () => !(await nearStats(svc)).tracking, 2000, 5);
  await owner.cli('set', key, 'after'); // no tracking connection on that node now
  assert.equal(await svc.get(key), 'after');
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  await eventually(async () => {
    const hits = (await nearStats(svc)).hits;
    await svc.get(key);
    return (await nearStats(svc)).hits > hits;
  }, 5000, 20);
  await owner.cli('set', key, 'third');
  await eventually(async () => (await svc.get(key)) === 'third', 1000, 5);
});

test('a slot moved to another master: the cached value goes, writes on the new owner are seen', async () => {
  const svc = nearClusterService();
  await svc.connect();
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  const tag = uniqueKey('ncc-mig');
  const key = `{${tag}}:k`;
  const slot = await cluster.slotOf(key);
  const from = await cluster.masterForSlot(slot);
  const to = cluster.masters().find((m) => m !== from);
  await from.cli('set', key, 'on-source');
  assert.equal(await svc.get(key), 'on-source');
  assert.equal(await svc.get(key), 'on-source');
  await cluster.migrateSlot(slot, from, to);
  await to.cli('set', key, 'on-target');
  await eventually(async () => (await svc.get(key)) === 'on-target', 2000, 5);
  for (let i = 0; i < 10; i++) assert.equal(await svc.get(key), 'on-target');
});
