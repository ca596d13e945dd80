// The near cache on a Redis Cluster: every node runs broadcast tracking for us, so keys on every master are
// cached and invalidated; another client's write on the owning master is seen within the invalidation delay;
// a killed tracking connection turns caching off at once (nothing stale), and it resumes; a moved slot leaves
// nothing stale behind; and a randomized interleaving of reads (get, hget, hgetall, mget) with writes on every
// master stays consistent with the acknowledged history.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster } from './harness/cluster.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { connectResp } from './harness/resp.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';
import { writeHistory } from './harness/near-cache-history.mjs';

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

test('property: random get, hget, hgetall and mget over every master, interleaved with writes on the owning masters, never return a value older than the last write acknowledged 200 ms before the read', async (t) => {
  const svc = nearClusterService();
  await svc.connect();
  await eventually(async () => (await nearStats(svc)).tracking, 5000, 20);
  const fields = ['f0', 'f1'];
  // Per master: three strings and a hash under one hash tag it owns, written by a connection of its own to it.
  const groups = await Promise.all((await keyPerMaster(uniqueKey('ncc-prop'))).map(async ({ key, owner }) => {
    const tag = key.slice(0, key.indexOf('}') + 1);
    return {
      port: owner.port,
      writer: await connectResp(owner.port),
      strings: [0, 1, 2].map((i) => `${tag}:s${i}`),
      hash: `${tag}:h`,
      writes: 0,
      reads: 0,
      newestRead: 0,
    };
  }));
  assert.equal(groups.length, 3);
  const groupOf = new Map(groups.flatMap((g) => [...g.strings, g.hash].map((k) => [k, g])));
  const pick = (list) => list[Math.floor(Math.random() * list.length)];
  const history = writeHistory({ boundMs: 200 });
  const fieldId = (hash, f) => `${hash}/${f}`;
  const read = (key, id, reply, started) => {
    const g = groupOf.get(key);
    g.reads++;
    g.newestRead = Math.max(g.newestRead, history.check(id, reply, started, `${id} (master ${g.port})`));
  };
  try {
    for (const g of groups) {
      for (const k of g.strings) await g.writer.command('SET', k, '0');
      await g.writer.command('HSET', g.hash, ...fields.flatMap((f) => [f, '0']));
      g.strings.forEach((k) => history.acked(k, 0));
      fields.forEach((f) => history.acked(fieldId(g.hash, f), 0));
    }
    const deadline = Date.now() + 3000;
    // One writer per master, each only on its own keys: every id's acknowledgements come in order. Broadcast
    // tracking reports every write, so a stale value cached by a lost race lasts only until the key's next
    // write: after some writes the key is left alone for longer than the bound, so that such a value is seen.
    const writers = groups.map(async (g) => {
      const quietUntil = new Map();
      while (Date.now() < deadline) {
        const now = Date.now();
        const k = pick([...g.strings, g.hash]);
        if ((quietUntil.get(k) ?? 0) > now) {
          await new Promise((r) => setTimeout(r, 1));
          continue;
        }
        const v = history.issue();
        if (k !== g.hash) {
          await g.writer.command('SET', k, String(v));
          history.acked(k, v);
        } else {
          const written = Math.random() < 0.3 ? fields : [pick(fields)];
          await g.writer.command('HSET', g.hash, ...written.flatMap((f) => [f, String(v)]));
          written.forEach((f) => history.acked(fieldId(g.hash, f), v));
        }
        g.writes++;
        if (Math.random() < 0.05) quietUntil.set(k, now + 1.5 * history.boundMs);
        if (Math.random() < 0.5) await new Promise((r) => setTimeout(r, 1));
      }
    });
    const allStrings = groups.flatMap((g) => g.strings);
    const readers = Array.from({ length: 4 }, async () => {
      while (Date.now() < deadline) {
        const op = Math.random();
        const g = pick(groups);
        const started = process.hrtime.bigint();
        if (op < 0.4) {
          const k = pick(g.strings);
          read(k, k, await svc.get(k), started);
        } else if (op < 0.6) {
          const f = pick(fields);
          read(g.hash, fieldId(g.hash, f), await svc.hget(g.hash, f), started);
        } else if (op < 0.8) {
          const all = await svc.hgetall(g.hash);
          assert.deepEqual(Object.keys(all).sort(), fields, `hgetall ${g.hash}`);
          for (const f of fields) read(g.hash, fieldId(g.hash, f), all[f], started);
        } else {
          // Keys of several masters in one MGET.
          const keys = Array.from({ length: 2 + Math.floor(Math.random() * 3) }, () => pick(allStrings));
          const values = await svc.mget(keys);
          keys.forEach((k, i) => read(k, k, values[i], started));
        }
        if (Math.random() < 0.3) await new Promise((r) => setImmediate(r));
      }
    });
    await Promise.all([...writers, ...readers]);
  } finally {
    for (const g of groups) g.writer.close();
  }
  const s = await nearStats(svc);
  const perMaster = groups.map((g) => `${g.port}: ${g.writes} writes, ${g.reads} reads, newest read ${g.newestRead}`).join('; ');
  t.diagnostic(`${history.reads} reads, ${s.hits} hits, ${s.invalidations} invalidations, max staleness ${history.maxStalenessMs.toFixed(3)} ms (${perMaster})`);
  for (const g of groups) {
    assert.ok(g.writes > 50 && g.reads > 100 && g.newestRead > 0, `master ${g.port} barely involved: ${perMaster}`);
  }
  assert.ok(history.reads > 1000 && s.hits > 0, `reads ${history.reads}, hits ${s.hits}`);
});
