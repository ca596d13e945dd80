// The patterns of RedisCacheService on a real 6-node cluster (3 masters + 3 replicas) and a sentinel group
// (issue 6, item 9), each started once for the file and chosen through the environment as seed 001 writes it
// (REDIS_CLUSTER + REDIS_NODE{N}_HOST/PORT, REDIS_SENTINEL + REDIS_SENTINEL{N}_HOST/PORT + REDIS_MASTER_NAME).
// Every multi-key script (lock + fence, the queue's keys) must stay in one slot; getOrSet's lock and value may
// sit on different masters. Effects are read back on the server with `redis-cli -c`. invalidatePattern on a
// cluster is covered by cluster.spec.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from './harness/cluster.mjs';
import { startSentinelGroup } from './harness/sentinel.mjs';
import { runCli } from './harness/cli.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { loadResilis } from './harness/package.mjs';
import { uniqueKey } from './harness/util.mjs';

let cluster;
let group;
let clusterCache;
let sentinelCache;

function cacheOver(env) {
  const svc = openServiceFromEnv({ REDIS_ENABLED: 'true', ...env });
  return loadResilis().createRedisCacheService({ service: svc });
}

// Seed 001's cluster variables for three seed nodes.
function clusterEnv() {
  const env = { REDIS_CLUSTER: 'true' };
  cluster.nodes.slice(0, 3).forEach((n, i) => {
    env[`REDIS_NODE${i + 1}_HOST`] = '127.0.0.1';
    env[`REDIS_NODE${i + 1}_PORT`] = String(n.port);
  });
  return env;
}

// Seed 001's sentinel block.
function sentinelEnv() {
  const env = { REDIS_SENTINEL: 'true', REDIS_MASTER_NAME: group.masterName };
  group.sentinels.forEach((s, i) => {
    env[`REDIS_SENTINEL${i + 1}_HOST`] = '127.0.0.1';
    env[`REDIS_SENTINEL${i + 1}_PORT`] = String(s.port);
  });
  return env;
}

before(async () => {
  [cluster, group] = await Promise.all([
    startCluster({ masters: 3, replicasPerMaster: 1 }),
    startSentinelGroup({ masterName: 'patterns' }),
  ]);
  clusterCache = cacheOver(clusterEnv());
  sentinelCache = cacheOver(sentinelEnv());
  await Promise.all([clusterCache.service.connect(), sentinelCache.service.connect()]);
});

after(async () => {
  await closeServices();
  await Promise.allSettled([cluster?.stop(), group?.stop()]);
});

// redis-cli -c against the cluster: follows MOVED to the key's master.
const ccli = (...args) => runCli(cluster.nodes[0].port, ['-c', ...args]);
const slotOf = (key) => cluster.slotOf(key);
const ownerPort = async (key) => (await cluster.masterForKey(key)).port;

// One name per master, `make(name)` giving the key whose slot decides: [{ name, port }] of length 3.
async function namesPerMaster(label, make = (n) => n) {
  const byPort = new Map();
  for (let i = 0; byPort.size < cluster.masters().length; i++) {
    const name = uniqueKey(`${label}${i}`);
    const port = await ownerPort(make(name));
    if (!byPort.has(port)) byPort.set(port, name);
  }
  return [...byPort].map(([port, name]) => ({ port, name }));
}

const allowed = (results) => results.filter((r) => r.allowed).length;

// ---- cluster ----

test('cluster: checkRateLimit, 200 concurrent calls against 50 allow exactly 50 (sliding log, on every master)', async () => {
  for (const { name, port } of await namesPerMaster('rl', (n) => `ratelimit:${n}`)) {
    const results = await Promise.all(Array.from({ length: 200 }, () => clusterCache.checkRateLimit(name, 50, 60)));
    assert.equal(allowed(results), 50, `key on master ${port}`);
    assert.equal(await ccli('zcard', `ratelimit:${name}`), '50');
    const owner = cluster.masters().find((m) => m.port === port);
    assert.equal(await owner.cli('zcard', `ratelimit:${name}`), '50', 'the log lives on the slot\'s master');
  }
});

test('cluster: checkRateLimit token bucket, 200 concurrent calls against 50 allow exactly 50', async () => {
  for (const { name } of await namesPerMaster('tb', (n) => `ratelimit:${n}`)) {
    const opts = { limit: 50, windowMs: 3600000, algorithm: 'token-bucket' };
    const results = await Promise.all(Array.from({ length: 200 }, () => clusterCache.checkRateLimit(name, opts)));
    assert.equal(allowed(results), 50);
    assert.ok(Number(await ccli('hget', `ratelimit:${name}`, 'tokens')) < 1, 'the bucket on the server is empty');
  }
});

test('cluster: acquireLock / extendLock / releaseLock, lock and fence share a slot, fences strictly increase', async () => {
  for (const { name, port } of await namesPerMaster('lock', (n) => `lock:{${n}}`)) {
    const lockKey = `lock:{${name}}`;
    const fenceKey = `${lockKey}:fence`;
    assert.equal(await slotOf(fenceKey), await slotOf(lockKey));
    const t1 = await clusterCache.acquireLock(name, 5);
    assert.ok(t1, `acquired on master ${port}`);
    assert.equal(await ccli('get', lockKey), t1);
    assert.equal(await clusterCache.acquireLock(name, 5), null, 'held: a second acquire gets null');
    assert.equal(await clusterCache.releaseLock(name, `${t1}x`), false, 'a wrong token does not release');
    assert.equal(await clusterCache.extendLock(name, t1, 30), true);
    const pttl = Number(await ccli('pttl', lockKey));
    assert.ok(pttl > 25000 && pttl <= 30000, `extended (${pttl})`);
    assert.equal(await clusterCache.releaseLock(name, t1), true);
    assert.equal(await ccli('exists', lockKey), '0');
    const t2 = await clusterCache.acquireLock(name, 5);
    assert.ok(clusterCache.parseFence(t2) > clusterCache.parseFence(t1), `${t2} after ${t1}`);
    assert.equal(await ccli('get', fenceKey), String(clusterCache.parseFence(t2)));
    assert.equal(await clusterCache.releaseLock(name, t2), true);
  }
  // a key with its own hash tag keeps it: lock and fence in the tag's slot
  const tag = uniqueKey('tagged');
  const token = await clusterCache.acquireLock(`{${tag}}:order:1`, 5);
  assert.ok(token);
  assert.equal(await ccli('get', `lock:{${tag}}:order:1`), token);
  assert.equal(await slotOf(`lock:{${tag}}:order:1:fence`), await slotOf(tag));
  assert.equal(await clusterCache.releaseLock(`{${tag}}:order:1`, token), true);
});

test('cluster: 20 concurrent acquires get one owner; withLock contention never overlaps and fences increase', async () => {
  const name = uniqueKey('contend');
  const tokens = await Promise.all(Array.from({ length: 20 }, () => clusterCache.acquireLock(name, 5)));
  const winners = tokens.filter(Boolean);
  assert.equal(winners.length, 1);
  assert.equal(await clusterCache.releaseLock(name, winners[0]), true);

  let inside = 0;
  let most = 0;
  const fences = [];
  await Promise.all(Array.from({ length: 8 }, (_, i) => clusterCache.withLock(name, async ({ fence }) => {
    inside++;
    most = Math.max(most, inside);
    fences.push(fence);
    await sleep(15);
    inside--;
    return i;
  }, { ttl: 5, retries: 400, retryDelay: 10 })));
  assert.equal(most, 1, 'never two owners at once');
  assert.equal(fences.length, 8);
  for (let i = 1; i < fences.length; i++) assert.ok(fences[i] > fences[i - 1], `fences in order of entry: ${fences}`);
  assert.equal(await ccli('exists', `lock:{${name}}`), '0', 'released at the end');
});

test('cluster: withLock extends the lock past its TTL while fn runs', { timeout: 15000 }, async () => {
  const name = uniqueKey('extend');
  const lockKey = `lock:{${name}}`;
  let seenMidway;
  await clusterCache.withLock(name, async ({ token, signal }) => {
    await sleep(1600); // past the 1 s TTL: only the extensions keep it
    seenMidway = await ccli('get', lockKey);
    assert.equal(seenMidway, token);
    assert.equal(signal.aborted, false);
  }, { ttl: 1 });
  assert.ok(seenMidway);
  assert.equal(await ccli('exists', lockKey), '0');
});

test('cluster: queue enqueue / dequeue / nack / ack / queueStats in one slot per queue, on every master', async () => {
  for (const { name, port } of await namesPerMaster('q', (n) => `{${n}}`)) {
    const base = `queue:{${name}}`;
    const a = await clusterCache.enqueue(name, { n: 1 });
    const b = await clusterCache.enqueue(name, { n: 2 });
    const d = await clusterCache.enqueue(name, { n: 3 }, { delay: 60000 });
    const slots = new Set(await Promise.all([`${base}:waiting`, `${base}:processing`, `${base}:delayed`, `${base}:job:${a}`].map(slotOf)));
    assert.equal(slots.size, 1, 'every key of a queue in one slot');
    assert.equal(await ccli('lrange', `${base}:waiting`, 0, -1), `${a}\n${b}`, `waiting list on master ${port}`);
    assert.ok(Number(await ccli('zscore', `${base}:delayed`, d)) > Date.now(), 'the delayed job waits, due in the future');
    assert.deepEqual(await clusterCache.queueStats(name), { waiting: 2, processing: 0, delayed: 1 });

    const j1 = await clusterCache.dequeue(name);
    assert.equal(j1.id, a);
    assert.deepEqual(j1.data, { n: 1 });
    assert.equal(j1.attempts, 1);
    assert.equal(await ccli('zscore', `${base}:processing`, a), String(j1.deadline));
    assert.equal(await clusterCache.nack(name, a), true);
    assert.deepEqual(await clusterCache.queueStats(name), { waiting: 2, processing: 0, delayed: 1 });

    const j2 = await clusterCache.dequeue(name);
    assert.equal(j2.id, b);
    assert.equal(await clusterCache.ack(name, b), true);
    const j3 = await clusterCache.dequeue(name);
    assert.equal(j3.id, a);
    assert.equal(j3.attempts, 2, 'nacked job delivered again');
    assert.equal(await clusterCache.ack(name, a), true);
    assert.equal(await clusterCache.dequeue(name), null, 'the delayed job is not due');
    assert.equal(await ccli('exists', `${base}:job:${a}`), '0', 'acked job record deleted');
    assert.equal(await ccli('exists', `${base}:job:${b}`), '0');
    assert.deepEqual(await clusterCache.queueStats(name), { waiting: 0, processing: 0, delayed: 1 });
  }
});

test('cluster: at-least-once, a job not acked within its visibility timeout is re-delivered by requeueStale', async () => {
  const name = uniqueKey('stale');
  const ids = [];
  for (let i = 0; i < 10; i++) ids.push(await clusterCache.enqueue(name, { i }));
  // 4 concurrent consumers drain it: every job once, no duplicates
  const got = [];
  await Promise.all(Array.from({ length: 4 }, async () => {
    for (let job; (job = await clusterCache.dequeue(name, { visibilityTimeoutMs: 300 }));) got.push(job);
  }));
  assert.deepEqual(got.map((j) => j.id).sort(), [...ids].sort());
  // ack all but two: the "crashed" consumer's jobs
  const lost = got.slice(0, 2).map((j) => j.id);
  for (const j of got.slice(2)) assert.equal(await clusterCache.ack(name, j.id), true);
  assert.equal(await clusterCache.requeueStale(name), 0, 'not stale before the deadline');
  await sleep(400);
  assert.equal(await clusterCache.requeueStale(name), 2);
  assert.deepEqual(await clusterCache.queueStats(name), { waiting: 2, processing: 0, delayed: 0 });
  const again = [await clusterCache.dequeue(name), await clusterCache.dequeue(name)];
  assert.deepEqual(again.map((j) => j.id).sort(), [...lost].sort());
  for (const j of again) {
    assert.equal(j.attempts, 2);
    assert.equal(await clusterCache.ack(name, j.id), true);
  }
  assert.deepEqual(await clusterCache.queueStats(name), { waiting: 0, processing: 0, delayed: 0 });
});

test('cluster: getOrSet { lock: true } with the lock and the value on different masters, two services load once', async () => {
  let key;
  for (let i = 0; !key; i++) {
    const k = uniqueKey(`gos${i}`);
    if ((await ownerPort(k)) !== (await ownerPort(`getOrSet:lock:${k}`))) key = k;
  }
  const other = cacheOver(clusterEnv());
  await other.service.connect();
  let calls = 0;
  const factory = async () => {
    calls++;
    await sleep(200);
    return { loaded: key };
  };
  const results = await Promise.all([
    ...Array.from({ length: 10 }, () => clusterCache.getOrSet(key, factory, 60, { lock: true })),
    ...Array.from({ length: 10 }, () => other.getOrSet(key, factory, 60, { lock: true })),
  ]);
  assert.equal(calls, 1, 'one factory call across both services');
  for (const r of results) assert.deepEqual(r, { loaded: key });
  assert.deepEqual(JSON.parse(await ccli('get', key)), { loaded: key });
  const ttl = Number(await ccli('ttl', key));
  assert.ok(ttl > 55 && ttl <= 60, `cached with the TTL (${ttl})`);
  assert.equal(await ccli('exists', `getOrSet:lock:${key}`), '0', 'the lock is released');
  assert.deepEqual(await other.getOrSet(key, () => assert.fail('a hit calls no factory'), 60, { lock: true }), { loaded: key });
});

test('cluster: sessions set / get / touch / delete on every master', async () => {
  for (const { name } of await namesPerMaster('sess', (n) => `session:${n}`)) {
    assert.equal(await clusterCache.setSession(name, { user: name }, 100), true);
    assert.deepEqual(JSON.parse(await ccli('get', `session:${name}`)), { user: name });
    assert.deepEqual(await clusterCache.getSession(name), { user: name });
    assert.equal(await clusterCache.touchSession(name, 500), true);
    const ttl = Number(await ccli('ttl', `session:${name}`));
    assert.ok(ttl > 490 && ttl <= 500, `touched (${ttl})`);
    assert.equal(await clusterCache.deleteSession(name), true);
    assert.equal(await ccli('exists', `session:${name}`), '0');
    assert.equal(await clusterCache.getSession(name), null);
    assert.equal(await clusterCache.touchSession(name, 500), false);
  }
});

// ---- sentinel ----

test('sentinel (seed 001 env): rate limit, lock, queue and getOrSet run on the master the sentinels name', async () => {
  const master = await group.currentMaster();
  assert.equal((await sentinelCache.healthCheck()).topology.mode, 'sentinel');

  const rl = uniqueKey('s-rl');
  const results = await Promise.all(Array.from({ length: 100 }, () => sentinelCache.checkRateLimit(rl, 20, 60)));
  assert.equal(allowed(results), 20);
  assert.equal(await master.cli('zcard', `ratelimit:${rl}`), '20');
  const tb = await Promise.all(Array.from({ length: 100 }, () => sentinelCache.checkRateLimit(`${rl}:tb`, { limit: 20, windowMs: 3600000, algorithm: 'token-bucket' })));
  assert.equal(allowed(tb), 20);

  const lock = uniqueKey('s-lock');
  const t1 = await sentinelCache.acquireLock(lock, 5);
  assert.equal(await master.cli('get', `lock:{${lock}}`), t1);
  assert.equal(await sentinelCache.acquireLock(lock, 5), null);
  assert.equal(await sentinelCache.extendLock(lock, t1, 10), true);
  assert.equal(await sentinelCache.releaseLock(lock, t1), true);
  const fence = await sentinelCache.withLock(lock, ({ fence: f }) => f, 5);
  assert.ok(fence > sentinelCache.parseFence(t1));
  assert.equal(await master.cli('exists', `lock:{${lock}}`), '0');

  const q = uniqueKey('s-q');
  const id = await sentinelCache.enqueue(q, { hello: 'sentinel' });
  assert.equal(await master.cli('lrange', `queue:{${q}}:waiting`, 0, -1), id);
  const job = await sentinelCache.dequeue(q, { visibilityTimeoutMs: 200 });
  assert.deepEqual([job.id, job.data], [id, { hello: 'sentinel' }]);
  await sleep(300);
  assert.equal(await sentinelCache.requeueStale(q), 1);
  const again = await sentinelCache.dequeue(q);
  assert.deepEqual([again.id, again.attempts], [id, 2]);
  assert.equal(await sentinelCache.ack(q, id), true);
  assert.deepEqual(await sentinelCache.queueStats(q), { waiting: 0, processing: 0, delayed: 0 });

  const k = uniqueKey('s-gos');
  let calls = 0;
  const values = await Promise.all(Array.from({ length: 10 }, () => sentinelCache.getOrSet(k, async () => {
    calls++;
    await sleep(50);
    return { v: 1 };
  }, 60, { lock: true })));
  assert.equal(calls, 1);
  for (const v of values) assert.deepEqual(v, { v: 1 });
  assert.equal(await master.cli('get', k), '{"v":1}');
  assert.equal(await master.cli('exists', `getOrSet:lock:${k}`), '0');
});
