// The fast lane: one pipelined connection carries ordinary commands in a standalone deployment.
// Order within a tick, large values through partial writes, a killed lane connection, a hung
// server (timeouts, no late replies) and a restart: every call settles exactly once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { maybeTls } from './harness/tls.mjs';
import { openService as openPlainService, closeServices } from './harness/service.mjs';
import { uniqueKey, captureError, assertCode, settleWithin, eventually } from './harness/util.mjs';

// RESILIS_LANE_TLS=1 (fast-lane-tls.spec.mjs): every test below over mutual TLS, the lane then
// holding the rustls session itself.
const deployment = maybeTls(process.env.RESILIS_LANE_TLS === '1');
const TLS = deployment.enabled;
const startRedis = deployment.startRedis;
const openService = (server, options = {}) => openPlainService(server, deployment.options(options));

let redis;

before(async () => {
  await deployment.init();
  redis = await startRedis();
});

after(async () => {
  await closeServices();
  await redis?.stop();
  await deployment.cleanup();
});

// The lane is the connection that has run the most GETs: find it by CLIENT LIST's `cmd=`.
async function laneClientId(server, name) {
  const out = await server.cli('client', 'list');
  const mine = out.split('\n').filter((l) => l.includes(` name=${name} `));
  const lane = mine.find((l) => / cmd=(get|set|incr)\b/.test(l));
  return lane && lane.match(/^id=(\d+)/)[1];
}

test('commands issued in one tick run in the order they were issued', async () => {
  const svc = openService(redis);
  await svc.ping();
  await eventually(async () => (await svc.getStats()).lanes.open === 1);
  assert.deepEqual((await svc.getStats()).lanes, { open: 1, tls: TLS }, 'the lane is open');
  await svc.connect();
  const k = uniqueKey('order');
  const calls = [];
  for (let i = 0; i < 200; i++) {
    calls.push(svc.set(k, String(i)));
    calls.push(svc.get(k));
  }
  const results = await Promise.all(calls);
  for (let i = 0; i < 200; i++) assert.equal(results[2 * i + 1], String(i), `get #${i} saw the set before it`);
  assert.equal(await redis.cli('get', k), '199');
});

test('array replies come back whole and in order: nils, empty and non-ASCII values, large arrays, Buffers', async () => {
  const svc = openService(redis);
  await svc.connect();
  const k = uniqueKey('packed');
  const keys = Array.from({ length: 300 }, (_, i) => `${k}:${i}`);
  const value = (i) => (i % 7 === 0 ? '' : `v${i}-${'x'.repeat(i % 50)}`);
  await svc.mset(Object.fromEntries(keys.filter((_, i) => i % 5 !== 0).map((key) => [key, value(keys.indexOf(key))])));
  const expected = keys.map((_, i) => (i % 5 === 0 ? null : value(i)));
  assert.deepEqual(await svc.mget(keys), expected, 'nils and empty strings in place');
  // More than one packed reply's worth of data (256 KiB) and a non-ASCII value: sent unpacked, same result.
  const big = `${k}:big`;
  await svc.set(big, 'b'.repeat(300 * 1024));
  assert.deepEqual(await svc.mget([big, keys[1]]), ['b'.repeat(300 * 1024), value(1)]);
  const utf = `${k}:utf`;
  await svc.set(utf, 'héllo ✓');
  assert.deepEqual(await svc.mget([utf, keys[0], keys[1]]), ['héllo ✓', null, value(1)]);
  // Lists and sets take the same path.
  const list = `${k}:list`;
  await svc.rpush(list, 'a', '', 'c');
  assert.deepEqual(await svc.lrange(list, 0, -1), ['a', '', 'c']);
  // Asked as Buffers, values stay Buffers.
  const bufs = await svc.callBuffer('mget', keys[1], keys[0]);
  assert.ok(Buffer.isBuffer(bufs[0]) && bufs[0].toString() === value(1) && bufs[1] === null);
});

test('large values come back as strings over the reply bytes: intact after later replies and garbage collections', async () => {
  const svc = openService(redis);
  await svc.connect();
  const k = uniqueKey('external');
  const values = Array.from({ length: 40 }, (_, i) => String.fromCharCode(65 + (i % 26)).repeat(4096 + i * 997));
  await Promise.all(values.map((v, i) => svc.set(`${k}:${i}`, v)));
  const kept = await Promise.all(values.map((_, i) => svc.get(`${k}:${i}`)));
  v8.setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc');
  for (let round = 0; round < 5; round++) {
    // Later replies reuse the read buffer; collections free unreferenced values.
    await Promise.all(values.map((_, i) => svc.get(`${k}:${i}`)));
    gc();
  }
  for (let i = 0; i < values.length; i++) assert.ok(kept[i] === values[i], `value ${i} changed after later replies`);
});

test('copies (getStats().copies): a 16 KiB SET is copied once out of V8 and written in place; a GET copies it once into JS, a 64 KiB GET not at all', async () => {
  const svc = openService(redis);
  await svc.connect();
  const k = uniqueKey('copies');
  const value = 'c'.repeat(16 * 1024);
  const large = 'L'.repeat(64 * 1024);
  await svc.set(`${k}:large`, large);
  // getStats() copies bytes of its own (INFO): take off what a run without the operation counts
  const counted = async (op) => {
    const before = (await svc.getStats()).copies;
    await op();
    const after = (await svc.getStats()).copies;
    return Object.fromEntries(Object.keys(after).map((name) => [name, after[name] - before[name]]));
  };
  const delta = async (op) => {
    const [withOp, without] = [await counted(op), await counted(async () => {})];
    return Object.fromEntries(Object.keys(withOp).map((name) => [name, withOp[name] - without[name]]));
  };
  const small = 64; // the key, the reply 'OK', INFO's length changing by a few bytes
  const near = (n, target) => Math.abs(n - target) < small;
  const set = await delta(() => svc.set(k, value));
  assert.ok(near(set.fromJs, value.length) && set.intoWire < small, `SET: ${JSON.stringify(set)}`);
  assert.equal(set.wireByReference, value.length, `SET: ${JSON.stringify(set)}`);
  const get = await delta(() => svc.get(k).then((v) => assert.equal(v, value)));
  assert.ok(near(get.toJs, value.length) && near(get.toJsByReference, 0), `GET 16 KiB: ${JSON.stringify(get)}`);
  const getLarge = await delta(() => svc.get(`${k}:large`).then((v) => assert.equal(v, large)));
  assert.ok(near(getLarge.toJs, 0) && near(getLarge.toJsByReference, large.length), `GET 64 KiB: ${JSON.stringify(getLarge)}`);
});

// Unreported to V8, external strings (values of 64 KiB and more) let the young generation hold a
// gigabyte of reply bytes before a scavenge.
for (const [label, size] of [['16 KiB', 16 * 1024], ['128 KiB', 128 * 1024]]) {
  test(`${label} values read in a loop: the process stays small`, async (t) => {
    const svc = openService(redis);
    await svc.connect();
    const k = uniqueKey('rss');
    const value = 'r'.repeat(size);
    await Promise.all(Array.from({ length: 100 }, (_, i) => svc.set(`${k}:${i}`, value)));
    const start = process.memoryUsage().rss;
    let peak = start;
    let reads = 0;
    const end = Date.now() + 2500;
    const worker = async () => {
      while (Date.now() < end) {
        const v = await svc.get(`${k}:${reads++ % 100}`);
        if (v.length !== value.length) throw new Error('a value came back cut');
        if (reads % 200 === 0) peak = Math.max(peak, process.memoryUsage().rss);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    const grownMb = (peak - start) / 2 ** 20;
    t.diagnostic(`${reads} reads of ${label}; RSS grew by ${grownMb.toFixed(0)} MB at most`);
    assert.ok(reads * size > 256 * 2 ** 20, `only ${reads} reads`);
    assert.ok(grownMb < 400, `RSS grew by ${grownMb.toFixed(0)} MB`);
  });
}

test('values far larger than a socket buffer go out whole (partial writes) and come back whole', async () => {
  const svc = openService(redis);
  const big = 'x'.repeat(4 * 1024 * 1024) + 'end';
  const keys = [uniqueKey('big'), uniqueKey('big')];
  await Promise.all(keys.map((k) => svc.set(k, big)));
  const back = await Promise.all(keys.map((k) => svc.get(k)));
  for (const v of back) {
    assert.equal(v.length, big.length);
    assert.ok(v.endsWith('end'));
  }
  assert.equal(Number(await redis.cli('strlen', keys[0])), big.length);
});

test('a killed lane connection: in-flight calls settle once, later calls are served again', async () => {
  const name = uniqueKey('lane').replace(/:/g, '-');
  const svc = openService(redis, { connectionName: name });
  const k = uniqueKey('counter');
  await svc.incr(k);
  const id = await laneClientId(redis, name);
  assert.ok(id, 'the lane connection is visible in CLIENT LIST');
  let settled = 0;
  const inflight = [];
  for (let i = 0; i < 2000; i++) {
    inflight.push(svc.incr(k).then(() => { settled++; return 'ok'; }, (e) => { settled++; return e.code; }));
  }
  await redis.cli('client', 'kill', 'id', id);
  const outcomes = await settleWithin(Promise.all(inflight), 10_000, 'in-flight calls');
  assert.equal(settled, 2000, 'every call settled exactly once');
  for (const o of outcomes) assert.ok(o === 'ok' || o === 'ERR_RESILIS_CONNECTION', `outcome ${o}`);
  const counted = Number(await redis.cli('get', k)) - 1;
  const acknowledged = outcomes.filter((o) => o === 'ok').length;
  assert.ok(counted >= acknowledged, `acknowledged ${acknowledged} increments, Redis counted ${counted}`);
  // Served again (fred while the lane reopens, then the lane).
  await eventually(async () => (await svc.get(k)) === String(counted + 1));
  assert.equal(await svc.get(k), String(counted + 1));
  assert.ok(await eventually(async () => laneClientId(redis, name)), 'the lane is back');
});

test('a hung server: a non-idempotent call rejects with ERR_RESILIS_TIMEOUT in time, a SET is answered by the fallback, a late reply reaches nobody', async () => {
  const hung = await startRedis();
  try {
    const svc = openService(hung, { commandTimeout: 300 });
    const k = uniqueKey('hang');
    const n = uniqueKey('hang-counter');
    await svc.set(k, 'before');
    hung.kill('SIGSTOP');
    const started = Date.now();
    // INCR may have run: never repeated, never answered locally.
    const err = await captureError(() => svc.incr(n), 'incr while hung');
    assertCode(err, 'ERR_RESILIS_TIMEOUT');
    assert.equal(err.sent, 'unknown');
    assert.ok(Date.now() - started < 2_000, `settled after ${Date.now() - started} ms`);
    // SET is safe to repeat: the fallback answers it, the journal replays it.
    assert.equal(await settleWithin(svc.set(k, 'during'), 2_000, 'set while hung'), 'OK');
    hung.kill('SIGCONT');
    // The late replies of the timed-out commands are read and dropped.
    await eventually(async () => (await hung.cli('get', k)) === 'during', 10_000, 100);
    assert.equal(await hung.cli('get', k), 'during');
    assert.ok(['1', null, ''].includes(await hung.cli('get', n)), 'the INCR ran at most once');
    await eventually(async () => svc.isConnected, 10_000, 100);
    assert.equal(await svc.incr(uniqueKey('after')), 1);
  } finally {
    hung.kill('SIGCONT');
    await hung.stop();
  }
});

test('a restarted server on the same port: the service serves again by itself', async () => {
  const server = await startRedis();
  try {
    const svc = openService(server, { commandTimeout: 500 });
    const k = uniqueKey('restart');
    await svc.set(k, '1');
    await server.restart();
    await eventually(async () => {
      await svc.set(k, '2');
      assert.equal(await svc.get(k), '2');
    }, 10_000, 100);
  } finally {
    await server.stop();
  }
});

test('Redis gone: every command of one tick settles within the command timeout', async () => {
  const server = await startRedis();
  const svc = openService(server, { commandTimeout: 400 });
  const k = uniqueKey('gone');
  await svc.set(k, '1');
  await server.kill('SIGKILL');
  const started = Date.now();
  const outcomes = await settleWithin(
    Promise.all(Array.from({ length: 6 }, () => svc.get(k).then(() => 'ok', (e) => e.code))),
    5_000,
    'six gets after the server died',
  );
  // A GET is answered by the fallback (the value mirrored before the kill) or fails fast.
  for (const o of outcomes) assert.ok(['ok', 'ERR_RESILIS_TIMEOUT', 'ERR_RESILIS_CONNECTION'].includes(o), o);
  assert.ok(Date.now() - started < 3_000, `settled after ${Date.now() - started} ms`);
  await server.stop();
});

test('a bounded in-flight queue: past maxInFlight a call is refused at once with ERR_RESILIS_BACKPRESSURE', async () => {
  const hung = await startRedis();
  try {
    const svc = openService(hung, { maxInFlight: 50, commandTimeout: 3_000 });
    const k = uniqueKey('bp');
    await svc.set(k, 'v');
    hung.kill('SIGSTOP');
    const first = Array.from({ length: 50 }, () => svc.incr(uniqueKey('bp-n')).then(() => 'ok', (e) => e.code));
    await new Promise((r) => setImmediate(r));
    const started = Date.now();
    const err = await captureError(() => svc.incr(uniqueKey('bp-n')), 'incr past the bound');
    assertCode(err, 'ERR_RESILIS_BACKPRESSURE');
    assert.equal(err.sent, 'no');
    assert.ok(Date.now() - started < 500, 'refused at once');
    hung.kill('SIGCONT');
    const outcomes = await settleWithin(Promise.all(first), 10_000, 'the first 50');
    assert.ok(outcomes.every((o) => o === 'ok' || o === 'ERR_RESILIS_TIMEOUT'), outcomes.join());
    await eventually(async () => (await svc.incr(uniqueKey('bp-after'))) === 1, 10_000, 100);
  } finally {
    hung.kill('SIGCONT');
    await hung.stop();
  }
});
