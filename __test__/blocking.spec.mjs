// Blocking commands (issue 17, part 3) run on connections of their own: they never stall the
// service's other commands, each may block longer than the command timeout (its block time plus
// the timeout), several block at once, and a duplicate()d service works the same way (as queue
// libraries use it). Standalone and cluster.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { startCluster } from './harness/cluster.mjs';
import { openService, openServiceFromEnv, closeServices, remember } from './harness/service.mjs';
import { uniqueKey } from './harness/util.mjs';

const COMMAND_TIMEOUT = 500;

let redis;
let cluster;

before(async () => {
  [redis, cluster] = await Promise.all([startRedis(), startCluster({ masters: 3, replicasPerMaster: 0 })]);
  await cluster.waitHealthy();
});

after(async () => {
  await closeServices();
  await redis?.stop();
  await cluster?.stop();
});

const deployments = {
  standalone: () => openService(redis, { commandTimeout: COMMAND_TIMEOUT }),
  cluster: () => openServiceFromEnv({
    REDIS_CLUSTER_MODE: 'true',
    REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(','),
    REDIS_ENABLED: 'true',
  }, { commandTimeout: COMMAND_TIMEOUT }),
};

for (const [name, open] of Object.entries(deployments)) {
  test(`${name}: BLPOP blocks past the command timeout, then gets what another client pushes`, async () => {
    const svc = open();
    const other = open();
    const list = uniqueKey('blk');
    const started = Date.now();
    const popped = svc.blpop(list, 5);
    await sleep(COMMAND_TIMEOUT * 2); // longer than the command timeout: still waiting, no ERR_RESILIS_TIMEOUT
    await other.rpush(list, 'job-1');
    assert.deepEqual(await popped, [list, 'job-1']);
    assert.ok(Date.now() - started >= COMMAND_TIMEOUT * 2, 'it waited for the push');
  });

  test(`${name}: a BLPOP that times out resolves null after its block time, and opens no breaker`, async () => {
    const svc = open();
    const started = Date.now();
    assert.equal(await svc.blpop(uniqueKey('empty'), 1), null);
    const took = Date.now() - started;
    assert.ok(took >= 950 && took < 1000 + COMMAND_TIMEOUT + 500, `took ${took} ms`);
    assert.equal((await svc.healthCheck()).status, 'connected');
    assert.equal(await svc.set(uniqueKey('after'), 'v'), 'OK');
  });

  test(`${name}: other commands are not held up while blocking commands wait`, async () => {
    const svc = open();
    const blocked = Array.from({ length: 6 }, () => svc.brpop(uniqueKey('idle'), 2));
    await sleep(100);
    const key = uniqueKey('busy');
    const started = Date.now();
    for (let i = 0; i < 20; i++) {
      await svc.incr(key);
      await svc.multi().incr(key).get(key).exec();
      await svc.call('PING');
    }
    const took = Date.now() - started;
    assert.ok(took < 1500, `60 commands took ${took} ms while 6 BRPOPs blocked`);
    assert.equal(await svc.get(key), '40');
    assert.deepEqual(await Promise.all(blocked), [null, null, null, null, null, null]);
  });

  test(`${name}: a duplicate()d service blocks on its own connections too (a queue worker)`, async () => {
    const producer = open();
    const worker = remember(producer.duplicate());
    const queue = uniqueKey('{q}:wait');
    const done = uniqueKey('{q}:done');
    const received = [];
    const consume = (async () => {
      for (let i = 0; i < 3; i++) received.push(await worker.blmove(queue, done, 'LEFT', 'RIGHT', 5));
    })();
    for (const job of ['a', 'b', 'c']) {
      await sleep(COMMAND_TIMEOUT);
      await producer.rpush(queue, job);
    }
    await consume;
    assert.deepEqual(received, ['a', 'b', 'c']);
    assert.deepEqual(await producer.lrange(done, 0, -1), ['a', 'b', 'c']);
  });
}

test('standalone: XREAD BLOCK waits for a new entry past the command timeout', async () => {
  const svc = deployments.standalone();
  const stream = uniqueKey('stream');
  const read = svc.xread('BLOCK', 3000, 'STREAMS', stream, '$');
  await sleep(COMMAND_TIMEOUT * 2);
  const id = await svc.xadd(stream, '*', 'field', 'value');
  const reply = await read;
  assert.equal(reply[0][0], stream);
  assert.equal(reply[0][1][0][0], id);
  assert.deepEqual(reply[0][1][0][1], ['field', 'value']);
});
