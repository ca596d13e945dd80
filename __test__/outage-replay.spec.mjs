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
  // After an earlier outage each breaker is half-open: the first RPUSH and the first INCR are its
  // trial, sent to Redis, which is gone: they reject; the rest go to the journal.
  const rejected = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [{ i, err: o.reason }] : []));
  await redis.restart();
  const stopKilling = killLoop(redis.port, 2);
  await sleep(1500);
  stopKilling();
  // Drained: nothing queued, nothing held in doubt or in flight (every journalled write replayed).
  const drained = await eventually(async () => {
    const { replay, degraded } = await svc.getStats();
    return !degraded && replay.pending === 0 && replay.replayed === replay.journaled;
  }, 30000, 50);
  assert.ok(drained, `the journal did not drain: ${JSON.stringify((await svc.getStats()).replay)}`);
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean).map((v) => v.slice(0, v.lastIndexOf(':')));
  const counted = Number(await redis.cli('get', counter));
  return { acked, rejected, stored, counted };
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

test('every outage write was acknowledged and journalled, or rejected as the trial of a half-open breaker; a replay was cut off', (t) => {
  t.diagnostic(`${run.rounds.length} outage round(s); replay stats: ${JSON.stringify(run.stats.replay)}`);
  for (const r of run.rounds) {
    const seen = r.rejected.slice(0, 4).map(({ i, err }) => `${i}: ${err.code} (${err.sent}) ${err.message}`).join('; ');
    assert.equal(r.acked + r.rejected.length, PUSHES + INCRS);
    // At most one trial per breaker (RPUSH, INCR), each the first of its kind, and never 'no'.
    assert.ok(r.rejected.length <= 2, `${r.rejected.length} rejected: ${seen}`);
    for (const { i, err } of r.rejected) {
      assert.ok(i === 0 || i === PUSHES, `write ${i} rejected: ${err.code} ${err.message}`);
      // 'unknown' (it may have been written), or 'no' (refused: journalling it now would put it after
      // the writes behind it).
      assert.ok(err.sent === 'unknown' || err.sent === 'no', `${err.code} ${err.sent} ${err.message}`);
    }
  }
  const acked = run.rounds.reduce((n, r) => n + r.acked, 0);
  assert.equal(run.stats.replay.journaled, acked);
  assert.equal(run.stats.replay.rejected, 0);
  assert.equal(run.stats.replay.dropped, 0);
  assert.equal(run.stats.replay.pending, 0, 'the journal did not drain');
  // Not vacuous: at least one replay's outcome was unknown and it went again.
  assert.ok(run.stats.replay.inDoubt > 0, 'no replay was cut off: the fault was not injected');
});

test('RPUSH: every acknowledged id is in Redis once, in order', () => {
  for (const r of run.rounds) {
    const trial = r.rejected.some(({ i }) => i === 0);
    // The rejected trial reached no server (Redis was down): it is not there either.
    const expected = Array.from({ length: PUSHES }, (_, i) => `id:${i}`).slice(trial ? 1 : 0);
    assert.equal(r.stored.length, expected.length, `${r.stored.length} ids stored for ${expected.length} acknowledged`);
    assert.deepEqual(r.stored, expected);
  }
});

test('INCR: the counter counts every acknowledged increment once', () => {
  for (const r of run.rounds) {
    const trial = r.rejected.some(({ i }) => i === PUSHES);
    assert.equal(r.counted, INCRS - (trial ? 1 : 0));
  }
});
