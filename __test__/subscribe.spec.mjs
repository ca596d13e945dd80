// Pub/sub receiving (issue 5 item 5, issue 6 item 8): messages published by other clients reach
// subscribe/psubscribe/ssubscribe callbacks on the JS thread, unsubscribe stops delivery, the
// subscription survives a killed connection and a server restart, RedisCacheService decodes JSON,
// it works on a cluster (plain and sharded channels), and a process exits after disconnect().
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { startCluster } from './harness/cluster.mjs';
import { openService, openServiceFromEnv, closeServices } from './harness/service.mjs';
import { openCache } from './harness/cache.mjs';
import { writeScript, spawnScript } from './harness/node-script.mjs';
import { uniqueKey, settleWithin, eventually, captureError, assertCode } from './harness/util.mjs';

let redis;
let svc;
let cluster;

before(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startCluster({ masters: 3, replicasPerMaster: 0 })]);
  svc = openService(redis);
  await svc.connect();
});

after(async () => {
  await closeServices();
  await redis?.stop();
  await cluster?.stop();
});

/** Collects calls; `next(n)` waits until n have arrived. */
function recorder() {
  const calls = [];
  const fn = (...args) => calls.push(args);
  fn.calls = calls;
  fn.upTo = (n, ms = 5000) => settleWithin(eventually(() => calls.length >= n, ms, 10), ms + 500, `${n} messages`).then(() => calls);
  return fn;
}

/** PUBLISH from redis-cli until someone receives it (after a reconnect the resubscribe takes a moment). */
async function publishUntilReceived(server, channel, message, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const n = Number(await server.cli('publish', channel, message));
    if (n > 0) return n;
    if (Date.now() > deadline) assert.fail(`no subscriber on ${channel} within ${ms} ms`);
    await sleep(50);
  }
}

test('subscribe resolves the count; a message from another client reaches the callback as (message, channel) and the "message" event', async () => {
  const a = uniqueKey('ch-a');
  const b = uniqueKey('ch-b');
  const cb = recorder();
  const events = recorder();
  svc.on('message', events);
  try {
    assert.equal(await svc.subscribe(a, cb), 1);
    assert.equal(await svc.subscribe([b], cb), 2);
    assert.equal(await redis.cli('publish', a, 'hello'), '1');
    assert.equal(await redis.cli('publish', b, 'wörld ✓'), '1');
    assert.deepEqual(await cb.upTo(2), [['hello', a], ['wörld ✓', b]]);
    await events.upTo(2);
    assert.deepEqual(events.calls.filter(([ch]) => ch === a || ch === b), [[a, 'hello'], [b, 'wörld ✓']]);
    // The service's other commands keep working while subscribed (the subscriber has its own connection).
    const key = uniqueKey('k');
    assert.equal(await svc.set(key, 'v'), 'OK');
    assert.equal(await svc.get(key), 'v');
    assert.equal(await svc.publish(a, 'self'), 1);
    await cb.upTo(3);
    assert.deepEqual(cb.calls[2], ['self', a]);
  } finally {
    svc.off('message', events);
    await svc.unsubscribe(a);
    await svc.unsubscribe(b);
  }
});

test('order is kept across a burst of messages', async () => {
  const ch = uniqueKey('ch-burst');
  const cb = recorder();
  await svc.subscribe(ch, cb);
  const publisher = openService(redis);
  await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish(ch, `m${i}`)));
  await cb.upTo(500);
  assert.deepEqual(cb.calls.map(([m]) => m), Array.from({ length: 500 }, (_, i) => `m${i}`));
  await svc.unsubscribe(ch);
});

test('psubscribe: (message, channel, pattern) and the "pmessage" event; overlapping patterns each get one copy', async () => {
  const base = uniqueKey('news');
  const p1 = `${base}.*`;
  const p2 = `${base}.s?ort`;
  const one = recorder();
  const two = recorder();
  const events = recorder();
  svc.on('pmessage', events);
  try {
    assert.equal(await svc.psubscribe(p1, one), 1);
    assert.equal(await svc.psubscribe(p2, two), 2);
    assert.equal(await redis.cli('publish', `${base}.sport`, 'goal'), '2');
    assert.equal(await redis.cli('publish', `${base}.weather`, 'rain'), '1');
    assert.deepEqual(await one.upTo(2), [['goal', `${base}.sport`, p1], ['rain', `${base}.weather`, p1]]);
    assert.deepEqual(await two.upTo(1), [['goal', `${base}.sport`, p2]]);
    await events.upTo(3);
    assert.deepEqual(
      events.calls.map((e) => e.join('|')).sort(),
      [[p1, `${base}.sport`, 'goal'], [p2, `${base}.sport`, 'goal'], [p1, `${base}.weather`, 'rain']].map((e) => e.join('|')).sort(),
    );
  } finally {
    svc.off('pmessage', events);
    assert.equal(await svc.punsubscribe(), 0);
  }
});

test('unsubscribe stops delivery; removing one listener keeps the others', async () => {
  const ch = uniqueKey('ch-unsub');
  const keep = recorder();
  const drop = recorder();
  await svc.subscribe(ch, keep);
  await svc.subscribe(ch, drop);
  assert.equal(await svc.unsubscribe(ch, drop), 1, 'still subscribed: another listener remains');
  await redis.cli('publish', ch, 'first');
  await keep.upTo(1);
  assert.equal(await svc.unsubscribe(ch), 0);
  assert.equal(await redis.cli('publish', ch, 'second'), '0', 'the server no longer counts us');
  await sleep(200);
  assert.deepEqual(keep.calls, [['first', ch]]);
  assert.deepEqual(drop.calls, []);
});

test('bad arguments reject with ERR_RESILIS_ARGUMENT', async () => {
  assertCode(await captureError(() => svc.subscribe()), 'ERR_RESILIS_ARGUMENT', { type: TypeError });
  assertCode(await captureError(() => svc.subscribe(42, () => {})), 'ERR_RESILIS_ARGUMENT', { type: TypeError });
});

test('a subscription survives CLIENT KILL TYPE pubsub and a server restart on the same port', { timeout: 30000 }, async () => {
  const server = await startRedis();
  try {
    const s = openService(server, { reconnectMaxDelay: 200 });
    const ch = uniqueKey('ch-survive');
    const pattern = `${uniqueKey('pat-survive')}*`;
    const cb = recorder();
    const pcb = recorder();
    await s.subscribe(ch, cb);
    await s.psubscribe(pattern, pcb);
    await publishUntilReceived(server, ch, 'before');
    await cb.upTo(1);

    assert.ok(Number(await server.cli('client', 'kill', 'type', 'pubsub')) >= 1);
    await publishUntilReceived(server, ch, 'after-kill');
    await cb.upTo(2);

    await server.restart();
    await publishUntilReceived(server, ch, 'after-restart');
    await publishUntilReceived(server, `${pattern.slice(0, -1)}x`, 'pattern-after-restart');
    await cb.upTo(3);
    await pcb.upTo(1);
    assert.deepEqual(cb.calls.map(([m]) => m), ['before', 'after-kill', 'after-restart']);
    assert.deepEqual(pcb.calls.map(([m]) => m), ['pattern-after-restart']);
    await s.disconnect();
    assert.equal(await server.cli('publish', ch, 'gone'), '0', 'disconnect() closes the subscriber');
  } finally {
    await server.stop();
  }
});

test('RedisCacheService: subscribe decodes JSON messages (strings otherwise), psubscribe and unsubscribe', async () => {
  const { cache } = openCache(redis);
  const ch = uniqueKey('cache-ch');
  const got = recorder();
  const pgot = recorder();
  await cache.subscribe(ch, got);
  await cache.psubscribe(`${ch}:*`, pgot);
  assert.equal(await cache.publish(ch, { user: 1, tags: ['a'] }), 1);
  await redis.cli('publish', ch, 'plain text');
  await redis.cli('publish', ch, '42');
  await cache.publish(`${ch}:sub`, [1, 2]);
  assert.deepEqual(await got.upTo(3), [[{ user: 1, tags: ['a'] }, ch], ['plain text', ch], [42, ch]]);
  assert.deepEqual(await pgot.upTo(1), [[[1, 2], `${ch}:sub`, `${ch}:*`]]);
  assert.equal(await cache.unsubscribe(ch, got), 1);
  assert.equal(await cache.publish(ch, 'nobody'), 0);
  await cache.punsubscribe(`${ch}:*`);
});

test('cluster: subscribe and ssubscribe receive messages published on any node / the shard owner', { timeout: 30000 }, async () => {
  const env = { REDIS_CLUSTER: 'true', REDIS_ENABLED: 'true' };
  cluster.nodes.slice(0, 3).forEach((n, i) => {
    env[`REDIS_NODE${i + 1}_HOST`] = '127.0.0.1';
    env[`REDIS_NODE${i + 1}_PORT`] = String(n.port);
  });
  const c = openServiceFromEnv(env);
  const ch = uniqueKey('cluster-ch');
  const shard = `{${uniqueKey('shard')}}:events`;
  const cb = recorder();
  const scb = recorder();
  const sevents = recorder();
  c.on('smessage', sevents);
  assert.equal(await c.subscribe(ch, cb), 1);
  assert.equal(await c.ssubscribe(shard, scb), 1);
  // Classic pub/sub is broadcast over the cluster bus: publish on every master.
  for (const [i, node] of cluster.masters().entries()) await node.cli('publish', ch, `from-${i}`);
  const owner = await cluster.masterForKey(shard);
  assert.equal(await owner.cli('spublish', shard, 'sharded'), '1');
  assert.deepEqual((await cb.upTo(3)).map(([m]) => m), ['from-0', 'from-1', 'from-2']);
  assert.deepEqual(await scb.upTo(1), [['sharded', shard]]);
  assert.deepEqual(await sevents.upTo(1), [[shard, 'sharded']]);
  assert.equal(await c.sunsubscribe(shard), 0);
  assert.equal(await owner.cli('spublish', shard, 'gone'), '0');
  await c.disconnect();
});

const CHILD = `
const [url, channel] = process.argv.slice(2);
const svc = resilis.createRedisService({ url });
await svc.subscribe(channel, async (message) => {
  console.log('got ' + message);
  await svc.disconnect();
  console.log(JSON.stringify({ disconnectedAt: Date.now() }));
});
console.log('subscribed');
`;

test('a subscribed process stays alive until disconnect(), then exits on its own', { timeout: 30000 }, async () => {
  const file = await writeScript('subscribe-exit', CHILD);
  const ch = uniqueKey('exit-ch');
  const child = spawnScript(file, [redis.url, ch]);
  await child.waitFor(/^subscribed$/);
  let exited = false;
  child.exited.then(() => { exited = true; });
  await sleep(1500);
  assert.equal(exited, false, 'a subscription keeps the process alive (like an ioredis subscriber)');
  await publishUntilReceived(redis, ch, 'bye');
  await child.waitFor(/^got bye$/);
  const { code } = await settleWithin(child.exited, 5000, 'child exit after disconnect()');
  const exitedAt = Date.now();
  assert.equal(code, 0, child.stderrText());
  const out = JSON.parse(child.lines.find((l) => l.startsWith('{')));
  assert.ok(exitedAt - out.disconnectedAt < 3000, `the process lived ${exitedAt - out.disconnectedAt} ms after disconnect()`);
});
