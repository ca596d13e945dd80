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
const PAD = 'x'.repeat(400);

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

// One outage: Redis killed, writes acknowledged by the fallback (journalled), Redis restarted and
// the journal replayed while connections are killed every 2 ms. Values are padded so a replayed
// batch is long enough on the wire to be cut off.
async function outageRound(svc, round) {
  const list = uniqueKey(`replay-list-${round}`);
  const counter = uniqueKey(`replay-incr-${round}`);
  await redis.kill('SIGKILL');
  const writes = [];
  for (let i = 0; i < PUSHES; i++) writes.push(svc.rpush(list, `id:${i}:${PAD}`));
  for (let i = 0; i < INCRS; i++) writes.push(svc.incr(counter));
  const outcomes = await Promise.allSettled(writes);
  const acked = outcomes.filter((o) => o.status === 'fulfilled').length;
  await redis.restart();
  const stopKilling = killLoop(redis.port, 2);
  await sleep(1500);
  stopKilling();
  await eventually(async () => (await svc.getStats()).replay.pending === 0, 15000, 50);
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean).map((v) => v.slice(0, v.lastIndexOf(':')));
  const counted = Number(await redis.cli('get', counter));
  return { acked, stored, counted };
}

before(async () => {
  redis = await startRedis();
  const svc = openService(redis, { commandTimeout: 1000, connectTimeout: 500, reconnect: { minDelay: 5, maxDelay: 50 } });
  svc.on('error', () => {});
  await svc.ping();
  // Cutting a replay off is a race: rounds go on (at most 3) until one was.
  const rounds = [];
  do {
    rounds.push(await outageRound(svc, rounds.length));
  } while ((await svc.getStats()).replay.inDoubt === 0 && rounds.length < 3);
  run = { rounds, stats: await svc.getStats() };
}, { timeout: 90000 });

after(async () => {
  await closeServices();
  await redis?.stop();
});

test('every outage write was acknowledged and journalled, and a replay was cut off', (t) => {
  t.diagnostic(`${run.rounds.length} outage round(s); replay stats: ${JSON.stringify(run.stats.replay)}`);
  for (const r of run.rounds) assert.equal(r.acked, PUSHES + INCRS);
  assert.equal(run.stats.replay.journaled, run.rounds.length * (PUSHES + INCRS));
  assert.equal(run.stats.replay.pending, 0, 'the journal did not drain');
  // Not vacuous: at least one replay's outcome was unknown and it went again.
  assert.ok(run.stats.replay.inDoubt > 0, 'no replay was cut off: the fault was not injected');
});

test('RPUSH: every journalled id is in Redis once, in order', () => {
  const expected = Array.from({ length: PUSHES }, (_, i) => `id:${i}`);
  for (const r of run.rounds) {
    assert.equal(r.stored.length, PUSHES, `${r.stored.length} ids stored for ${PUSHES} pushes`);
    assert.deepEqual(r.stored, expected);
  }
});

test('INCR: the counter counts every journalled increment once', () => {
  for (const r of run.rounds) assert.equal(r.counted, INCRS);
});
