// The outage journal replayed while connections are killed (FAULTS.md "kill connections", "nothing
// lost" 2 and 4): writes the fallback acknowledged while Redis was down reach Redis exactly once,
// even when a replay's connection dies after Redis ran it (its reply lost: the batch is sent again
// under the same token and Redis skips it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const PUSHES = 6000;
const INCRS = 3000;

let redis;
let run;

// `CLIENT KILL TYPE normal` every `everyMs` on one raw connection (the killer's own is skipped).
function killLoop(port, everyMs) {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  socket.on('data', () => {});
  const kill = '*4\r\n$6\r\nCLIENT\r\n$4\r\nKILL\r\n$4\r\nTYPE\r\n$6\r\nnormal\r\n';
  const timer = setInterval(() => socket.write(kill), everyMs);
  return () => {
    clearInterval(timer);
    socket.destroy();
  };
}

before(async () => {
  redis = await startRedis();
  const svc = openService(redis, { commandTimeout: 1000, connectTimeout: 500, reconnect: { minDelay: 5, maxDelay: 50 } });
  svc.on('error', () => {});
  const list = uniqueKey('replay-list');
  const counter = uniqueKey('replay-incr');
  await svc.ping();
  await redis.kill('SIGKILL');

  // Acknowledged by the fallback, journalled for replay.
  const writes = [];
  for (let i = 0; i < PUSHES; i++) writes.push(svc.rpush(list, `id:${i}`));
  for (let i = 0; i < INCRS; i++) writes.push(svc.incr(counter));
  const outcomes = await Promise.allSettled(writes);
  const acked = outcomes.filter((o) => o.status === 'fulfilled').length;
  const journaled = (await svc.getStats()).replay.journaled;

  await redis.restart();
  const stopKilling = killLoop(redis.port, 2);
  await sleep(1500);
  stopKilling();
  await eventually(async () => (await svc.getStats()).replay.pending === 0, 15000, 50);
  const stats = await svc.getStats();
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean);
  const counted = Number(await redis.cli('get', counter));
  run = { acked, journaled, stats, stored, counted };
}, { timeout: 60000 });

after(async () => {
  await closeServices();
  await redis?.stop();
});

test('every outage write was acknowledged and journalled, and the replay hit connection deaths', (t) => {
  t.diagnostic(`replay stats: ${JSON.stringify(run.stats.replay)}`);
  assert.equal(run.acked, PUSHES + INCRS);
  assert.equal(run.journaled, PUSHES + INCRS);
  assert.equal(run.stats.replay.pending, 0, 'the journal did not drain');
  // Not vacuous: at least one replay's outcome was unknown and it went again.
  assert.ok(run.stats.replay.inDoubt > 0, 'no replay was cut off: the fault was not injected');
});

test('RPUSH: every journalled id is in Redis once, in order', () => {
  const expected = Array.from({ length: PUSHES }, (_, i) => `id:${i}`);
  assert.equal(run.stored.length, PUSHES, `${run.stored.length} ids stored for ${PUSHES} pushes`);
  assert.deepEqual(run.stored, expected);
});

test('INCR: the counter counts every journalled increment once', () => {
  assert.equal(run.counted, INCRS);
});
