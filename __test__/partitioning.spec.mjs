// RedisPartitioningService (issue 20 part 1): keys over independent redis-servers. Three then four
// real servers: spread, a join moving about a quarter and nothing else, values and TTLs surviving
// migration, a migration killed mid-way and resumed, removeNode draining a node, a dead node
// failing only its keys, hash tags, range placement.
//
// The scenario is sequential (each step builds on the data of the one before).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { loadResilis } from './harness/package.mjs';
import { writeScript, spawnScript } from './harness/node-script.mjs';
import { eventually } from './harness/util.mjs';

const resilis = loadResilis();
const N = 100_000;
const TTL_KEYS = 2000; // the first TTL_KEYS keys carry a TTL of 1000 s
const servers = [];
const open = [];
let svc;

const keyOf = (i) => `user:${i}`;
const valueOf = (i) => `value-${i}-${'x'.repeat(i % 7)}`;

function service(options) {
  const s = resilis.createPartitioningService(options);
  open.push(s);
  return s;
}

// Every key stored on `server`, by SCAN through redis-cli (never KEYS).
async function keysOn(server) {
  const out = [];
  let cursor = '0';
  do {
    const lines = (await server.cli('scan', cursor, 'count', '5000')).split('\n');
    cursor = lines[0];
    for (const k of lines.slice(1)) if (k) out.push(k);
  } while (cursor !== '0');
  return out;
}

// key -> the url of the one server holding it; fails on a key held twice.
async function placement(list) {
  const where = new Map();
  for (const s of list) {
    for (const k of await keysOn(s)) {
      assert.ok(!where.has(k), `${k} is on ${where.get(k)} and on ${s.url}`);
      where.set(k, s.url);
    }
  }
  return where;
}

function assertWhereOwned(where) {
  for (const [k, url] of where) assert.equal(svc.getNodeForKey(k), url, `${k} sits on ${url}`);
  assert.equal(where.size, N);
  for (let i = 0; i < N; i++) assert.ok(where.has(keyOf(i)), `${keyOf(i)} lost`);
}

async function assertValues() {
  const keys = Array.from({ length: N }, (_, i) => keyOf(i));
  const vals = await svc.mget(keys);
  for (let i = 0; i < N; i++) assert.equal(vals[i], valueOf(i), keyOf(i));
}

before(async () => {
  for (let i = 0; i < 4; i++) servers.push(await startRedis());
});

after(async () => {
  for (const s of open) await s.quit().catch(() => {});
  for (const s of servers) await s.stop();
});

test('three nodes: 100,000 keys spread within 10%, each on the node getNodeForKey names', async () => {
  svc = service({ nodes: servers.slice(0, 3).map((s) => s.url) });
  for (let i = 0; i < N; i += 1000) {
    const rec = {};
    for (let j = i; j < i + 1000; j++) rec[keyOf(j)] = valueOf(j);
    await svc.mset(rec, i < TTL_KEYS ? 1000 : undefined);
  }
  const d = await svc.analyzeDistribution();
  assert.equal(d.nodes.length, 3);
  assert.equal(d.nodes.reduce((a, n) => a + n.keys, 0), N);
  assert.ok(d.imbalance < 1.1, `imbalance ${d.imbalance}`);
  for (const n of d.nodes) assert.ok(n.memory > 0);
  const where = await placement(servers.slice(0, 3));
  assertWhereOwned(where);
  assert.equal(svc.getConnectionForKey('user:1'), svc.getConnectionForKey('user:1'), 'one shared service per node');
  assert.equal(await svc.getConnectionForKey('user:7').get('user:7'), valueOf(7));
});

let before4;
test('a fourth node moves about a quarter of the keys, only to itself; values and TTLs survive', async () => {
  before4 = await placement(servers.slice(0, 3));
  const progress = [];
  svc.on('migrationProgress', (p) => progress.push(p));
  const r = await svc.addNode(servers[3].url);
  svc.removeAllListeners('migrationProgress');
  assert.equal(r.failed, 0);
  assert.ok(r.moved > 0.22 * N && r.moved < 0.28 * N, `moved ${r.moved}`);
  assert.ok(progress.length > 0 && progress.at(-1).done);
  const where = await placement(servers);
  assertWhereOwned(where);
  let changed = 0;
  for (const [k, url] of where) {
    if (url !== before4.get(k)) {
      changed++;
      assert.equal(url, servers[3].url, `${k} moved between old nodes`);
    }
  }
  assert.equal(changed, r.moved);
  assert.equal(Number(await servers[3].cli('dbsize')), r.moved, 'the migration log is gone');
  await assertValues();
  let ttlMoved = 0;
  for (let i = 0; i < TTL_KEYS; i++) {
    if (where.get(keyOf(i)) !== servers[3].url) continue;
    ttlMoved++;
    const ttl = Number(await servers[3].cli('ttl', keyOf(i)));
    assert.ok(ttl > 900 && ttl <= 1000, `${keyOf(i)} ttl ${ttl}`);
  }
  assert.ok(ttlMoved > 300);
  const d = await svc.analyzeDistribution();
  assert.ok(d.imbalance < 1.1, `imbalance ${d.imbalance}`);
});

test('removeNode drains a node to zero keys and the others take exactly its keys', async () => {
  const gone = servers[1];
  const beforeRemove = await placement(servers);
  const r = await svc.removeNode(gone.url);
  assert.equal(r.failed, 0);
  assert.equal(Number(await gone.cli('dbsize')), 0);
  assert.deepEqual(svc.nodes, [servers[0].url, servers[2].url, servers[3].url]);
  const where = await placement(servers);
  assertWhereOwned(where);
  let changed = 0;
  for (const [k, url] of where) if (url !== beforeRemove.get(k)) { changed++; assert.equal(beforeRemove.get(k), gone.url); }
  assert.equal(changed, r.moved);
  await assertValues();
});

test('a migration killed mid-way resumes and completes: no key lost or held twice', async () => {
  const rest = [servers[0].url, servers[2].url, servers[3].url];
  const file = await writeScript('partition-migrate', `
const svc = resilis.createPartitioningService({ nodes: JSON.parse(process.argv[2]), migrationBatch: 20 });
svc.on('migrationProgress', (p) => console.log('progress ' + p.moved));
await svc.addNode(process.argv[3]);
console.log('finished');
`);
  const child = spawnScript(file, [JSON.stringify(rest), servers[1].url]);
  await child.waitFor(/^progress (\d{4,})$/, 60000);
  child.kill('SIGKILL');
  await child.exited;
  assert.ok(!child.lines.includes('finished'));
  const partial = Number(await servers[1].cli('dbsize'));
  assert.ok(partial > 1000 && partial < 0.2 * N, `${partial} keys on the joining node at the kill`);
  assert.equal(await servers[1].cli('exists', 'resilis:partitioning:migration'), '1', 'the log is there');

  const r = await svc.addNode(servers[1].url); // the same call completes it
  assert.equal(r.failed, 0);
  const where = await placement(servers);
  assertWhereOwned(where);
  const counts = new Map();
  for (const url of where.values()) counts.set(url, (counts.get(url) ?? 0) + 1);
  for (const s of servers) assert.ok(counts.get(s.url) > 0.22 * N, `${s.url}: ${counts.get(s.url)}`);
  await assertValues();
});

test('during a migration reads find keys not yet moved, writes and deletes go to the new owner', async () => {
  const leaving = servers[3];
  const onIt = [...(await placement(servers))].filter(([k, url]) => url === leaving.url && Number(k.slice(5)) >= TTL_KEYS + 1000).map(([k]) => k);
  const written = onIt.slice(0, 200);
  const deleted = onIt.slice(200, 400);
  const probe = onIt.slice(400, 1400);
  let running = true;
  const migration = svc.removeNode(leaving.url, { batch: 20 }).finally(() => { running = false; });
  await assert.rejects(svc.addNode('redis://127.0.0.1:1'), { code: 'ERR_RESILIS_BUSY' });
  let reads = 0;
  let duringMigration = 0;
  await Promise.all(written.map((k) => svc.set(k, `new-${k}`)));
  assert.equal(await svc.del(...deleted), deleted.length);
  while (running) {
    const vals = await svc.mget(probe);
    probe.forEach((k, i) => assert.equal(vals[i], valueOf(Number(k.slice(5))), `${k} during the migration`));
    assert.equal(await svc.get(written[reads % 200]), `new-${written[reads % 200]}`);
    if (running) duringMigration++;
    reads++;
  }
  const r = await migration;
  assert.equal(r.failed, 0);
  assert.ok(duringMigration > 0, 'reads overlapped the migration');
  assert.equal(Number(await leaving.cli('dbsize')), 0);
  const where = await placement(servers);
  for (const k of deleted) assert.ok(!where.has(k), `${k} came back`);
  assert.deepEqual(await svc.mget(written), written.map((k) => `new-${k}`));
  // back to four nodes and the original data for the steps that follow
  await svc.addNode(leaving.url);
  const rec = {};
  for (const k of [...written, ...deleted]) rec[k] = valueOf(Number(k.slice(5)));
  await svc.mset(rec);
  assertWhereOwned(await placement(servers));
  await assertValues();
});

test('hash tags keep related keys on one node; multi-key calls split and merge in order', async () => {
  const rec = {};
  for (let i = 0; i < 50; i++) rec[`{order:77}:line:${i}`] = `l${i}`;
  await svc.mset(rec);
  const homes = new Set();
  for (const s of servers) {
    const n = Number(await s.cli('exists', ...Object.keys(rec)));
    if (n > 0) { homes.add(s.url); assert.equal(n, 50); }
  }
  assert.equal(homes.size, 1);
  assert.equal([...homes][0], svc.getNodeForKey('order:77'));
  const mixed = ['user:1', '{order:77}:line:3', 'user:2', 'missing:1', 'user:99999'];
  assert.deepEqual(await svc.mget(mixed), [valueOf(1), 'l3', valueOf(2), null, valueOf(99999)]);
  assert.equal(await svc.del(...Object.keys(rec)), 50);
});

test('range strategy routes by its ranges', async () => {
  const [a, b] = [servers[0].url, servers[2].url];
  const r = service({ nodes: [a, b], strategy: 'range', ranges: [{ from: 0, to: 1000, node: a }, { from: 1000, node: b }] });
  assert.equal(r.getNodeForKey('range:5'), a);
  assert.equal(r.getNodeForKey('range:999'), a);
  assert.equal(r.getNodeForKey('range:1000'), b);
  await r.mset({ 'range:5': 'low', 'range:5000': 'high' });
  assert.equal(await servers[0].cli('get', 'range:5'), 'low');
  assert.equal(await servers[2].cli('get', 'range:5000'), 'high');
  assert.throws(() => r.getNodeForKey('no-number'), { code: 'ERR_RESILIS_ARGUMENT' });
  const p = service({ nodes: [a, b], strategy: 'range', ranges: [{ from: 'a', to: 'm', node: 0 }, { from: 'm', node: 1 }] });
  assert.equal(p.getNodeForKey('apple'), a);
  assert.equal(p.getNodeForKey('zebra'), b);
  await r.del('range:5', 'range:5000');
  assert.throws(() => service({ nodes: [], strategy: 'consistent' }), { code: 'ERR_RESILIS_ARGUMENT' });
  assert.throws(() => service({ nodes: [a], strategy: 'range', ranges: [{ from: 0, node: 'elsewhere' }] }), { code: 'ERR_RESILIS_ARGUMENT' });
});

test('a dead node fails only its own keys, and healthCheck names it', async () => {
  const h0 = await svc.healthCheck();
  assert.equal(h0.healthy, true);
  assert.equal(h0.nodes.reduce((a, n) => a + n.keys, 0), N);
  const dead = servers[2];
  await dead.kill('SIGKILL');
  // the node's service notices the lost connection within its timeouts
  let h;
  await eventually(async () => {
    h = await svc.healthCheck();
    return !h.healthy;
  }, 10000, 100);
  assert.equal(h.healthy, false);
  for (const n of h.nodes) assert.equal(n.healthy, n.node !== dead.url, `${n.node}: ${n.status}`);
  assert.equal(h.nodes.find((n) => n.node === dead.url).keys, null);
  // every key of a live node still reads its value
  const keys = Array.from({ length: 3000 }, (_, i) => keyOf(i));
  const live = keys.filter((k) => svc.getNodeForKey(k) !== dead.url);
  assert.ok(live.length > 2000);
  const vals = await svc.mget(live);
  live.forEach((k, i) => assert.equal(vals[i], valueOf(Number(k.slice(5)))));
  // a key of the dead node fails, or is served degraded from that node's fallback
  const deadKey = keys.find((k) => svc.getNodeForKey(k) === dead.url);
  const got = await svc.get(deadKey).then((v) => ({ v }), (e) => ({ e }));
  if (!got.e) assert.notEqual(h.nodes.find((n) => n.node === dead.url).status, 'connected');
});

test('exported from both entries; REDIS_PARTITION_NODES configures the nodes', async () => {
  const esm = await import('../lib/index.mjs');
  assert.equal(esm.createPartitioningService, resilis.createPartitioningService);
  assert.equal(esm.RedisPartitioningService, resilis.RedisPartitioningService);
  process.env.REDIS_PARTITION_NODES = `${servers[0].url}, ${servers[3].url}`;
  try {
    const e = service();
    assert.ok(e instanceof resilis.RedisPartitioningService);
    assert.deepEqual(e.nodes, [servers[0].url, servers[3].url]);
    await e.set('env:key', 'v');
    assert.equal(await e.get('env:key'), 'v');
    await e.del('env:key');
  } finally {
    delete process.env.REDIS_PARTITION_NODES;
  }
});
