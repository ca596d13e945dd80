// Acknowledged means stored (issue 16): a write resolves only once Redis took it or the outage
// journal holds it. What the journal cannot take is refused at once with ERR_RESILIS_FALLBACK_FULL
// (`sent: 'no'`), leaves the fallback as it was, and is counted; nothing acknowledged is dropped.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually, settleWithin } from './harness/util.mjs';

const servers = [];
after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
});

const FAST = { commandTimeout: 1000, connectTimeout: 500, reconnect: { minDelay: 5, maxDelay: 50 } };

async function degraded(svc) {
  await svc.get(uniqueKey('poke')).catch(() => {});
  return eventually(async () => (await svc.getStats()).degraded, 5000, 20);
}

test('journal full: 200 sets of 10 kB into a 1 MB fallback during an outage; acknowledged == in Redis after recovery, the rest refused with ERR_RESILIS_FALLBACK_FULL', { timeout: 60000 }, async (t) => {
  const redis = await startRedis();
  servers.push(redis);
  const svc = openService(redis, { ...FAST, fallback: { maxSize: 1024 * 1024 } });
  svc.on('error', () => {});
  const events = [];
  svc.on('fallbackFull', (e) => events.push(e));
  const before = uniqueKey('ack-before');
  assert.equal(await svc.set(before, 'old'), 'OK');
  await redis.kill('SIGKILL');
  assert.ok(await degraded(svc), 'the service did not turn degraded');

  const keys = Array.from({ length: 200 }, (_, i) => uniqueKey(`ack-${i}`));
  const value = (i) => `${i}:${'v'.repeat(10 * 1000)}`;
  const outcomes = await Promise.allSettled(keys.map((k, i) => settleWithin(svc.set(k, value(i)), 2000, `set ${i}`)));
  const acked = keys.filter((_, i) => outcomes[i].status === 'fulfilled');
  const refused = keys.filter((_, i) => outcomes[i].status === 'rejected');
  t.diagnostic(`${acked.length} acknowledged, ${refused.length} refused`);
  for (const o of outcomes) {
    if (o.status === 'fulfilled') assert.equal(o.value, 'OK');
    else {
      assert.equal(o.reason.code, 'ERR_RESILIS_FALLBACK_FULL', o.reason.message);
      assert.equal(o.reason.sent, 'no');
      assert.match(o.reason.message, /journal is full/);
    }
  }
  // The bound is 512 KiB (half of maxSize): some fit, most do not.
  assert.ok(acked.length > 10 && refused.length > 100, `${acked.length} acknowledged, ${refused.length} refused`);

  // A refused write leaves the fallback as it was for its key.
  const full = await svc.set(before, value(999)).then(() => null, (e) => e);
  assert.equal(full?.code, 'ERR_RESILIS_FALLBACK_FULL');
  assert.equal(await svc.get(before), 'old', 'a refused write changed the fallback');
  assert.equal(await svc.get(refused[0]), null, 'a refused write is served from the fallback');
  assert.equal(await svc.get(acked[0]), value(keys.indexOf(acked[0])));

  const during = (await svc.getStats()).replay;
  assert.equal(during.rejected, refused.length + 1, JSON.stringify(during));
  assert.equal(during.journaled, acked.length, JSON.stringify(during));
  assert.equal(during.dropped, 0, JSON.stringify(during));
  assert.ok(await eventually(() => events.length === refused.length + 1, 2000, 20), `${events.length} fallbackFull events`);
  assert.equal(events[0].code, 'ERR_RESILIS_FALLBACK_FULL');
  assert.equal(events.at(-1).rejected, refused.length + 1);

  await redis.restart();
  assert.ok(await eventually(async () => {
    const s = await svc.getStats();
    return !s.degraded && s.replay.pending === 0;
  }, 15000, 50), 'no recovery after restart');
  const after = (await svc.getStats()).replay;
  assert.equal(after.replayed, acked.length, JSON.stringify(after));
  assert.equal(after.dropped, 0, JSON.stringify(after));
  for (const k of acked) assert.equal(await redis.cli('get', k), value(keys.indexOf(k)), `acknowledged ${k} is not in Redis`);
  for (const k of refused) assert.equal(await redis.cli('exists', k), '0', `refused ${k} is in Redis`);
  // Redis is served again, with room in the journal for the next outage.
  assert.equal(await svc.set(refused[0], 'later'), 'OK');
  assert.equal(await redis.cli('get', refused[0]), 'later');
});

// The ids of the connections a service holds, as Redis lists them (redis-cli's own excluded).
async function clientIds(redis) {
  const out = await redis.cli('client', 'list');
  return out.split('\n').filter((l) => !/ cmd=client/.test(l)).map((l) => (l.match(/^id=(\d+)/) || [])[1]).filter(Boolean).sort();
}

test('a value over a configured maxValueBytes is refused before any I/O: ERR_RESILIS_ARGUMENT with size and limit, connection and breaker untouched', { timeout: 30000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  const svc = openService(redis, { ...FAST, maxValueBytes: 64 * 1024 });
  const key = uniqueKey('too-big');
  assert.equal(await svc.set(uniqueKey('small'), 'x'.repeat(60 * 1024)), 'OK');
  const connections = await clientIds(redis);
  const started = Date.now();
  const err = await svc.set(key, Buffer.alloc(100 * 1024, 1)).then(() => null, (e) => e);
  assert.ok(Date.now() - started < 1000, `refused after ${Date.now() - started} ms`);
  assert.equal(err?.code, 'ERR_RESILIS_ARGUMENT', err?.message);
  assert.equal(err.sent, 'no');
  assert.match(err.message, /102400 bytes/);
  assert.match(err.message, /maxValueBytes \(65536 bytes\)/);
  // A command's arguments in all count too.
  const mset = await svc.mset({ [uniqueKey('m1')]: 'a'.repeat(40 * 1024), [uniqueKey('m2')]: 'b'.repeat(40 * 1024) }).then(() => null, (e) => e);
  assert.equal(mset?.code, 'ERR_RESILIS_ARGUMENT');
  assert.match(mset.message, /in all, over maxValueBytes \(65536 bytes\)/);
  // In a transaction, the whole transaction is refused: none of it runs.
  const inMulti = uniqueKey('multi');
  const multi = await svc.multi().set(inMulti, 'a').set(key, 'b'.repeat(70 * 1024)).exec().then(() => null, (e) => e);
  assert.equal(multi?.code, 'ERR_RESILIS_ARGUMENT');
  assert.equal(await redis.cli('exists', inMulti), '0');
  // Nothing reached Redis, the connection is the same, the breaker and the service are as they were.
  assert.equal(await redis.cli('exists', key), '0');
  assert.equal(await svc.set(key, 'fits'), 'OK');
  assert.equal(await redis.cli('get', key), 'fits');
  assert.deepEqual(await clientIds(redis), connections, 'a connection was replaced');
  const stats = await svc.getStats();
  assert.equal(stats.degraded, false);
  assert.equal(stats.circuitBreakers['redis-set']?.failures ?? 0, 0, JSON.stringify(stats.circuitBreakers));
  assert.equal(stats.replay.journaled, 0);
  assert.equal(svc.isConnected, true);
});

test('a 513 MiB value is refused in under a second with the default maxValueBytes (512 MiB), and the next command succeeds', { timeout: 60000 }, async () => {
  const resilis = (await import('./harness/package.mjs')).loadResilis();
  assert.equal(resilis.DEFAULT_MAX_VALUE_BYTES, 512 * 1024 * 1024);
  const redis = await startRedis();
  servers.push(redis);
  const svc = openService(redis, FAST);
  const key = uniqueKey('huge');
  await svc.ping();
  let big = Buffer.alloc(513 * 1024 * 1024);
  const started = Date.now();
  const err = await settleWithin(svc.set(key, big), 5000, 'set 513 MiB').then(() => null, (e) => e);
  const ms = Date.now() - started;
  big = null;
  assert.ok(ms < 1000, `refused after ${ms} ms`);
  assert.equal(err?.code, 'ERR_RESILIS_ARGUMENT', err?.message);
  assert.match(err.message, /537919488 bytes, over maxValueBytes \(536870912 bytes\)/);
  assert.equal(await svc.set(key, 'next'), 'OK');
  assert.equal(await svc.get(key), 'next');
  const stats = await svc.getStats();
  assert.equal(stats.degraded, false);
  assert.equal(stats.replay.journaled + stats.replay.rejected + stats.replay.dropped, 0, JSON.stringify(stats.replay));
});

test("a protocol error reply on one command is not an outage for the others: a server with proto-max-bulk-len 1mb refuses a 2 MB value; the commands behind it reject as never run ('sent: no'), nothing is journalled, the next calls succeed", { timeout: 30000 }, async () => {
  const redis = await startRedis({ args: ['--proto-max-bulk-len', '1mb'] });
  servers.push(redis);
  const svc = openService(redis, FAST);
  svc.on('error', () => {});
  await svc.ping();
  const counters = Array.from({ length: 20 }, (_, i) => uniqueKey(`behind-${i}`));
  // One tick: the big value first, then INCRs on the same connection.
  const big = svc.set(uniqueKey('big'), Buffer.alloc(2 * 1024 * 1024, 97)).then(() => null, (e) => e);
  const behind = counters.map((k) => svc.incr(k).then((v) => ({ v }), (e) => ({ e })));
  const err = await big;
  assert.equal(err?.code, 'ERR_RESILIS_REPLY', err?.message);
  assert.match(err.message, /Protocol error/);
  for (const [i, r] of (await Promise.all(behind)).entries()) {
    if (r.e) {
      assert.equal(r.e.code, 'ERR_RESILIS_CONNECTION', r.e.message);
      assert.equal(r.e.sent, 'no', r.e.message);
      assert.equal(await redis.cli('exists', counters[i]), '0', 'an INCR said not run ran');
    } else {
      assert.equal(r.v, 1);
      assert.equal(await redis.cli('get', counters[i]), '1');
    }
  }
  const after = await Promise.all(counters.map((k) => svc.incr(k)));
  assert.ok(after.every((n) => n === 1 || n === 2), JSON.stringify(after));
  const stats = await svc.getStats();
  assert.equal(stats.degraded, false);
  assert.equal(stats.replay.journaled, 0, JSON.stringify(stats.replay));
  assert.equal(stats.circuitBreakers['redis-incr']?.failures ?? 0, 0, JSON.stringify(stats.circuitBreakers));
});
