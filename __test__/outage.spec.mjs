// Redis killed (SIGKILL) under load and restarted on the same port (issue 4, FAULTS.md "crash /
// restart"): plain get/set keep working from the fallback, the breaker of the operation opens and
// closes again, and writes accepted during the outage reach Redis when it is back, TTLs included
// (or stay local with fallback.writes 'local').
//
// One scenario runs in `before`; each test asserts one promise on what it recorded.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { loadResilis } from './harness/package.mjs';
import { openService, remember, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually, settleWithin } from './harness/util.mjs';
import { traffic, firstFailures, watchEvents, mgetFromRedis, numberAt, attempt } from './harness/faults.mjs';

const COMMAND_TIMEOUT = 1000;
const BOUND = COMMAND_TIMEOUT + 1500; // one call taking longer than this counts as hanging
const OPTIONS = { commandTimeout: COMMAND_TIMEOUT, connectTimeout: 500, circuitBreaker: { resetTimeout: 1000 } };
const EVENTS = ['error', 'reconnecting', 'circuitOpen', 'circuitClose', 'fallback'];

const resilis = loadResilis();
const servers = [];
let run; // what the scenario recorded

after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
});

// Open-ness as the breaker reports it; both accessors SURFACE.md names (the `circuitBreaker`
// export of seed 000 and the service's own).
function breakerMetrics(svc, op) {
  return {
    exported: resilis.circuitBreaker?.getMetrics(op),
    service: svc.circuitBreaker?.getMetrics(op),
  };
}

// set then get one unique key; each step's start and end are recorded.
function pairOp(svc, prefix) {
  return async (i) => {
    const key = `${prefix}:${i}`;
    const value = `v${i}:${Date.now()}`;
    const t0 = Date.now();
    const setReply = await svc.set(key, value);
    const t1 = Date.now();
    const got = await svc.get(key);
    return { key, value, setReply, got, t0, t1, t2: Date.now() };
  };
}

before(async () => {
  const server = await startRedis();
  servers.push(server);
  // the process-wide singleton, so the `circuitBreaker` export describes this service's breakers
  const svc = remember(resilis.getRedisService({ url: server.url, ...OPTIONS }));
  const events = watchEvents(svc, EVENTS);
  const prefix = uniqueKey('outage-load');
  const keys = { pre: uniqueKey('pre'), plain: uniqueKey('plain'), ex: uniqueKey('ex'), num: uniqueKey('num') };
  run = { server, svc, events, keys };

  await svc.set(keys.pre, 'before-outage');
  const load = traffic(pairOp(svc, prefix), { concurrency: 16, maxOps: 40000, boundMs: 2 * BOUND, pauseMs: 5 });
  await sleep(400);
  await server.kill('SIGKILL');
  run.killedAt = Date.now();
  await sleep(300);

  // writes and reads made while Redis is gone, each bounded
  const bounded = (p, what) => attempt(() => settleWithin(p, BOUND, what));
  run.outageWrites = {
    plain: await bounded(svc.set(keys.plain, 'during-outage'), 'set plain'),
    ex: await bounded(svc.set(keys.ex, 'during-outage-ex', { EX: 300 }), 'set EX 300'),
    num: await bounded(svc.set(keys.num, 'during-outage-num', 120), 'set ttl 120'),
  };
  run.outageReads = {
    plain: await bounded(svc.get(keys.plain), 'get plain'),
    ex: await bounded(svc.get(keys.ex), 'get ex'),
    pre: await bounded(svc.get(keys.pre), 'get pre'),
  };
  // the breaker may be half-open for a moment at each trial: wait for it to be seen open
  run.openMetrics = await attempt(() => eventually(() => {
    const m = breakerMetrics(svc, 'redis-get');
    return m.service?.state === 'open' && m.exported?.state === 'open' ? m : null;
  }, 3000).then((m) => m || breakerMetrics(svc, 'redis-get')));
  run.outageConnected = svc.isConnected;
  run.outageHealth = await attempt(() => settleWithin(svc.healthCheck(), BOUND, 'healthCheck'));
  run.outageFallbackStats = await attempt(() => svc.getFallbackCacheStats());
  await sleep(500);

  run.restartAt = Date.now();
  await server.restart();
  run.reconnected = await eventually(() => svc.isConnected, 8000, 50);
  run.reconnectMs = Date.now() - run.restartAt;
  run.closedMetrics = await attempt(() => eventually(() => {
    const m = breakerMetrics(svc, 'redis-get');
    return m.service?.state === 'closed' ? m : null;
  }, 5000).then((m) => m || breakerMetrics(svc, 'redis-get')));
  await sleep(300);
  run.load = await load.stop();
  run.calls = load.calls;
  // replay is asynchronous: wait for the plain outage write to show up (or give up after 5 s)
  await eventually(async () => (await server.cli('get', keys.plain)) === 'during-outage', 5000, 100);
  run.stats = await attempt(() => settleWithin(svc.getStats(), BOUND, 'getStats'));
}, { timeout: 60000 });

test('no call hangs: every get/set settles within the command timeout while Redis is killed and restarted', (t) => {
  t.diagnostic(`set+get pairs: ${JSON.stringify(run.load)}; reconnected ${run.reconnectMs} ms after the restart; events ${JSON.stringify(run.events.summary())}`);
  assert.equal(run.load.hung, 0, `hung calls: ${run.load.hung}\n${firstFailures(run.calls)}`);
  const slow = run.calls.filter((c) => c.ok && Math.max(c.value.t1 - c.value.t0, c.value.t2 - c.value.t1) > BOUND);
  assert.equal(slow.length, 0, `${slow.length} calls took more than ${BOUND} ms`);
  assert.ok(run.load.total > 16, `load ran only ${run.load.total} pairs`);
});

test('no plain get/set throws while Redis is down (16 in flight, SIGKILL mid-load)', () => {
  assert.equal(run.load.failed, 0, `${run.load.failed} of ${run.load.total} set+get pairs failed: ${JSON.stringify(run.load.codes)}\n${firstFailures(run.calls)}`);
  for (const [name, r] of Object.entries(run.outageWrites)) assert.equal(r.error, undefined, `outage set ${name}: ${r.error?.code} ${r.error?.message}`);
});

test('the fallback serves during the outage: outage writes read back, and so does a value written before it', () => {
  assert.equal(run.outageWrites.plain.value, 'OK');
  assert.equal(run.outageReads.plain.value, 'during-outage', `get: ${run.outageReads.plain.error?.message}`);
  assert.equal(run.outageReads.ex.value, 'during-outage-ex', `get: ${run.outageReads.ex.error?.message}`);
  assert.equal(run.outageReads.pre.value, 'before-outage', 'a value written through the service before the outage is mirrored into the fallback');
  // every pair that ran wholly inside the outage read its own write back
  const inside = run.calls.filter((c) => c.ok && c.value.t0 > run.killedAt && c.value.t2 < run.restartAt);
  assert.ok(inside.length > 0, 'no set+get pair completed during the outage');
  const wrong = inside.filter((c) => c.value.setReply !== 'OK' || c.value.got !== c.value.value);
  assert.equal(wrong.length, 0, `${wrong.length} pairs read something else: ${JSON.stringify(wrong.slice(0, 3).map((c) => c.value))}`);
  const stats = run.outageFallbackStats.value;
  assert.ok(stats && stats.itemCount > 0, `getFallbackCacheStats(): ${JSON.stringify(stats) ?? run.outageFallbackStats.error?.message}`);
});

test('health during the outage: isConnected false, healthCheck degraded with the circuit state', () => {
  assert.equal(run.outageConnected, false, 'isConnected is true only when Redis can serve a command');
  const h = run.outageHealth.value;
  assert.ok(h, `healthCheck rejected: ${run.outageHealth.error?.message}`);
  assert.equal(h.healthy, false);
  assert.equal(h.status, 'degraded', JSON.stringify(h));
  assert.ok(h.circuit !== undefined, `healthCheck has no circuit field: ${JSON.stringify(h)}`);
});

test("the breaker 'redis-get' opens, and its metrics say so (circuitBreaker.getMetrics and the service's)", () => {
  const { exported, service } = run.openMetrics.value ?? {};
  for (const [where, m] of Object.entries({ 'circuitBreaker export': exported, 'svc.circuitBreaker': service })) {
    assert.ok(m, `${where}.getMetrics('redis-get') returned nothing`);
    for (const f of ['state', 'requests', 'failures', 'successes', 'rejects', 'timeouts', 'fallbacks']) assert.ok(f in m, `${where}: no ${f} in ${JSON.stringify(m)}`);
    assert.equal(m.state, 'open', `${where}: ${JSON.stringify(m)}`);
    assert.ok(m.failures > 0, `${where}: ${JSON.stringify(m)}`);
    assert.ok(m.rejects + m.fallbacks > 0, `${where}: ${JSON.stringify(m)}`);
  }
});

test('events circuitOpen and fallback are emitted during the outage', () => {
  assert.ok(run.events.has('circuitOpen'), `events: ${JSON.stringify(run.events.summary())}`);
  assert.ok(run.events.has('fallback'), `events: ${JSON.stringify(run.events.summary())}`);
});

test('after restart on the same port the service recovers by itself', () => {
  assert.ok(run.reconnected, `isConnected still false ${run.reconnectMs} ms after the restart`);
  const after = run.calls.filter((c) => c.ok && c.value.t0 > run.restartAt + run.reconnectMs);
  assert.ok(after.length > 0, 'no set+get pair succeeded after the service reconnected');
});

test('writes accepted during the outage are in Redis afterwards, TTLs honoured', async () => {
  const { server, keys } = run;
  assert.equal(await server.cli('get', keys.plain), 'during-outage');
  assert.equal(await server.cli('get', keys.ex), 'during-outage-ex');
  const ttlEx = Number(await server.cli('ttl', keys.ex));
  assert.ok(ttlEx > 0 && ttlEx <= 300, `EX 300 written during the outage has TTL ${ttlEx} in Redis`);
  assert.equal(await server.cli('get', keys.num), 'during-outage-num');
  const ttlNum = Number(await server.cli('ttl', keys.num));
  assert.ok(ttlNum > 0 && ttlNum <= 120, `ttl 120 written during the outage has TTL ${ttlNum} in Redis`);
});

test('every load write acknowledged after the kill is in Redis (nothing lost), and getStats counts the replay', async (t) => {
  const dropped = numberAt(run.stats.value, /dropped/i) ?? 0;
  // writes acknowledged before the kill died with the server (no persistence): not counted
  const acked = run.calls.filter((c) => c.ok && c.value.t0 > run.killedAt && c.value.setReply === 'OK');
  assert.ok(acked.length > 0);
  // the replay may still be running: re-read until nothing is missing, at most 5 s
  let missing = acked;
  await eventually(async () => {
    const stored = await mgetFromRedis(run.server, missing.map((c) => c.value.key));
    missing = missing.filter((c, j) => stored[j] !== c.value.value);
    return missing.length === 0;
  }, 5000, 250);
  assert.ok(missing.length <= dropped, `${missing.length} of ${acked.length} acknowledged writes are not in Redis (journal dropped ${dropped}); first: ${JSON.stringify(missing.slice(0, 3).map((c) => c.value.key))}`);
  t.diagnostic(`${acked.length} writes acknowledged after the kill; getStats(): ${JSON.stringify(run.stats.value)}`);
  assert.ok(run.stats.value, `getStats rejected: ${run.stats.error?.message}`);
  assert.ok(numberAt(run.stats.value, /replayed/i) > 0, `getStats() reports no replayed writes: ${JSON.stringify(run.stats.value)}`);
});

test('the breaker closes after recovery and circuitClose is emitted', () => {
  const m = run.closedMetrics.value?.service;
  assert.equal(m?.state, 'closed', `after recovery: ${JSON.stringify(run.closedMetrics.value)}`);
  assert.ok(run.events.has('circuitClose'), `events: ${JSON.stringify(run.events.summary())}`);
});

test("fallback.writes 'local': outage writes are served locally and not replayed", { timeout: 30000 }, async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, { ...OPTIONS, fallback: { writes: 'local' } });
  svc.on('error', () => {});
  const key = uniqueKey('local');
  assert.equal(await svc.set(uniqueKey('warm'), 'x'), 'OK');
  await server.kill('SIGKILL');
  assert.equal(await settleWithin(svc.set(key, 'local-only', { EX: 300 }), BOUND, 'set during the outage'), 'OK');
  assert.equal(await settleWithin(svc.get(key), BOUND, 'get during the outage'), 'local-only');
  await server.restart();
  assert.ok(await eventually(async () => {
    await svc.get(uniqueKey('poke')).catch(() => {});
    return svc.isConnected;
  }, 8000, 100), 'no recovery after restart');
  await sleep(1500); // a replay, if any, would have run by now
  assert.equal(await server.cli('exists', key), '0', 'a local-only outage write was sent to Redis');
  const stats = await svc.getStats();
  assert.ok(!numberAt(stats, /replayed/i), `replayed count with writes 'local': ${JSON.stringify(stats)}`);
});
