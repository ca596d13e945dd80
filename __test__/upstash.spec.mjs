// REDIS_PROVIDER=upstash: every command over the Upstash REST API, against a real HTTP server
// speaking that protocol (harness/upstash-server.mjs) in front of a real redis-server. What a
// call stored is checked on the redis-server itself, never through the service.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { startUpstashServer } from './harness/upstash-server.mjs';
import { connectResp } from './harness/resp.mjs';
import { loadResilis } from './harness/package.mjs';
import { openService, openServiceFromEnv, remember, closeServices } from './harness/service.mjs';
import { uniqueKey, captureError, assertCode, eventually } from './harness/util.mjs';

const { createRedisService } = loadResilis();

let redis;
let rest;
let svc;
let raw; // a RESP connection to the redis-server, Buffers out

function upstashService(options = {}) {
  return remember(createRedisService({ provider: 'upstash', upstashUrl: rest.url, upstashToken: rest.token, ...options }));
}

before(async () => {
  redis = await startRedis();
  rest = await startUpstashServer({ redisPort: redis.port });
  svc = upstashService();
  raw = await connectResp(redis.port);
});

after(async () => {
  await closeServices();
  raw?.close();
  await rest?.close();
  await redis?.stop();
});

test('strings and counters go over REST and are in Redis', async () => {
  const [k, n, f, m1, m2] = ['s', 'n', 'f', 'm1', 'm2'].map((l) => uniqueKey(`up-${l}`));
  assert.equal(await svc.set(k, 'héllo wörld'), 'OK');
  assert.equal(await svc.get(k), 'héllo wörld');
  assert.equal(await redis.cli('get', k), 'héllo wörld');
  assert.equal(await svc.append(k, '!'), Buffer.byteLength('héllo wörld!'));
  assert.equal(await svc.strlen(k), Buffer.byteLength('héllo wörld!'));
  assert.equal(await svc.get(uniqueKey('missing')), null);
  assert.equal(await svc.mset(m1, 'a', m2, 'b'), 'OK');
  assert.deepEqual(await svc.mget(m1, m2, uniqueKey('none')), ['a', 'b', null]);
  assert.equal(await svc.setnx(m1, 'z'), 0);
  assert.equal(await svc.incr(n), 1);
  assert.equal(await svc.incrby(n, 41), 42);
  assert.equal(await svc.decr(n), 41);
  assert.equal(await svc.decrby(n, 40), 1);
  assert.equal(await redis.cli('get', n), '1');
  assert.equal(Number(await svc.incrbyfloat(f, 1.5)), 1.5);
  assert.equal(await redis.cli('get', f), '1.5');
});

test('hashes, lists, sets and sorted sets', async () => {
  const [h, l, s, z] = ['h', 'l', 's', 'z'].map((x) => uniqueKey(`up-${x}`));
  assert.equal(await svc.hset(h, 'a', '1', 'b', '2'), 2);
  assert.equal(await svc.hget(h, 'a'), '1');
  assert.deepEqual(await svc.hgetall(h), { a: '1', b: '2' });
  assert.deepEqual(await svc.hmget(h, 'b', 'x'), ['2', null]);
  assert.equal(await svc.hincrby(h, 'a', 9), 10);
  assert.equal(await svc.hdel(h, 'b'), 1);
  assert.equal(await redis.cli('hget', h, 'a'), '10');
  assert.equal(await redis.cli('hexists', h, 'b'), '0');

  assert.equal(await svc.rpush(l, 'x', 'y'), 2);
  assert.equal(await svc.lpush(l, 'w'), 3);
  assert.deepEqual(await svc.lrange(l, 0, -1), ['w', 'x', 'y']);
  assert.equal(await svc.lpop(l), 'w');
  assert.equal(await svc.rpop(l), 'y');
  assert.equal(await svc.llen(l), 1);
  assert.equal(await redis.cli('lindex', l, '0'), 'x');

  assert.equal(await svc.sadd(s, 'a', 'b', 'c'), 3);
  assert.equal(await svc.sismember(s, 'b'), 1);
  assert.equal(await svc.srem(s, 'b'), 1);
  assert.deepEqual((await svc.smembers(s)).sort(), ['a', 'c']);
  assert.equal(await redis.cli('scard', s), '2');

  assert.equal(await svc.zadd(z, 1, 'one', 2.5, 'two'), 2);
  assert.deepEqual(await svc.zrange(z, 0, -1, 'WITHSCORES'), ['one', '1', 'two', '2.5']);
  assert.equal(Number(await svc.zincrby(z, 2, 'one')), 3);
  assert.equal(Number(await svc.zscore(z, 'one')), 3);
  assert.deepEqual(await svc.zrangebyscore(z, 2, '+inf'), ['two', 'one']);
  assert.equal(await svc.zrem(z, 'two'), 1);
  assert.equal(await redis.cli('zcard', z), '1');
});

test('keys and expiry', async () => {
  const [a, b, c] = ['a', 'b', 'c'].map((x) => uniqueKey(`up-key-${x}`));
  await svc.set(a, '1', { ex: 100 });
  const ttl = await svc.ttl(a);
  assert.ok(ttl > 90 && ttl <= 100, `ttl ${ttl}`);
  const redisTtl = Number(await redis.cli('ttl', a));
  assert.ok(redisTtl > 90 && redisTtl <= 100, `redis ttl ${redisTtl}`);
  assert.equal(await svc.persist(a), 1);
  assert.equal(await svc.ttl(a), -1);
  assert.equal(await svc.pexpire(a, 50000), 1);
  assert.ok((await svc.pttl(a)) > 40000);
  assert.equal(await svc.exists(a, b), 1);
  assert.equal(await svc.type(a), 'string');
  assert.equal(await svc.rename(a, c), 'OK');
  assert.equal(await redis.cli('exists', a), '0');
  assert.equal(await redis.cli('get', c), '1');
  assert.equal(await svc.expire(c, 0), 1);
  assert.equal(await redis.cli('exists', c), '0');
  assert.equal(await svc.del(c, b), 0);
});

test('binary values round-trip byte for byte, keys too', async () => {
  const value = Buffer.from([0x00, 0xff, 0xfe, 0x0d, 0x0a, 0x80, 0x41, 0x00]);
  const key = Buffer.concat([Buffer.from(uniqueKey('up-bin')), Buffer.from([0xff, 0x00])]);
  assert.equal(await svc.set(key, value), 'OK');
  assert.deepEqual(await raw.command('GET', key), value);
  assert.deepEqual(await svc.getBuffer(key), value);
  // a value Redis holds that is not UTF-8 comes back exact (base64 on the wire)
  const field = uniqueKey('up-bin-hash');
  await raw.command('HSET', field, 'f', Buffer.from([0xc3, 0x28, 0xff]));
  assert.deepEqual(await svc.callBuffer('hget', field, 'f'), Buffer.from([0xc3, 0x28, 0xff]));
});

test('a pipeline is one POST /pipeline; a binary command keeps its place in it', async () => {
  const [a, b, n] = ['a', 'b', 'n'].map((x) => uniqueKey(`up-pipe-${x}`));
  const before = rest.requests.length;
  const replies = await svc.pipeline([
    { command: 'set', args: [a, '1'] },
    { command: 'incr', args: [n] },
    { command: 'get', args: [a] },
    { command: 'incrby', args: [n, 9] },
  ]);
  assert.deepEqual(replies, ['OK', 1, '1', 10]);
  assert.deepEqual(rest.requests.slice(before), [{ path: '/pipeline', commands: 4 }]);

  const bin = Buffer.from([0xff, 0x00, 0xfe]);
  const mark = rest.requests.length;
  const mixed = await svc.pipeline([
    { command: 'set', args: [b, 'first'] },
    { command: 'append', args: [b, '-x'] },
    { command: 'set', args: [b, bin] },
    { command: 'strlen', args: [b] },
    { command: 'exists', args: [b] },
  ]);
  assert.deepEqual(mixed, ['OK', 7, 'OK', 3, 1]);
  assert.deepEqual(await raw.command('GET', b), bin);
  assert.deepEqual(rest.requests.slice(mark).map((r) => r.path), ['/pipeline', `/set/${encodeURIComponent(b)}`, '/pipeline']);
});

test('an error reply stands in its slot (WRONGTYPE), and a single one rejects with ERR_RESILIS_REPLY', async () => {
  const [l, after] = [uniqueKey('up-wt'), uniqueKey('up-wt-after')];
  await svc.rpush(l, 'x');
  const replies = await svc.pipeline([
    { command: 'get', args: [l] },
    { command: 'set', args: [after, 'ran'] },
  ]);
  assert.ok(replies[0] instanceof Error);
  assert.equal(replies[0].code, 'ERR_RESILIS_REPLY');
  assert.match(replies[0].message, /^WRONGTYPE/);
  assert.equal(replies[1], 'OK');
  assert.equal(await redis.cli('get', after), 'ran');
  const err = await captureError(() => svc.get(l));
  assertCode(err, 'ERR_RESILIS_REPLY');
  assert.match(err.message, /WRONGTYPE/);
});

test('multi() is one POST /multi-exec: errors in their slot, a refused transaction runs nothing', async () => {
  const [k, l] = [uniqueKey('up-tx'), uniqueKey('up-tx-list')];
  const mark = rest.requests.length;
  const results = await svc.multi().set(k, '1').incr(k).lpush(k, 'x').get(k).exec();
  assert.deepEqual(rest.requests.slice(mark), [{ path: '/multi-exec', commands: 4 }]);
  assert.deepEqual(results[0], [null, 'OK']);
  assert.deepEqual(results[1], [null, 2]);
  assert.ok(results[2][0] instanceof Error);
  assert.match(results[2][0].message, /WRONGTYPE/);
  assert.deepEqual(results[3], [null, '2']);
  // a command Redis refuses while queueing discards the whole transaction
  const err = await captureError(() => svc.multi().set(l, 'a').addCommand('set', [l]).exec());
  assert.match(err.message, /wrong number of arguments|EXECABORT/i);
  assert.equal(await redis.cli('exists', l), '0');
});

test('commands REST cannot do fail with ERR_RESILIS_UNSUPPORTED naming them, and nothing is sent', async () => {
  const mark = rest.requests.length;
  const blpop = await captureError(() => svc.blpop(uniqueKey('up-q'), 1));
  assertCode(blpop, 'ERR_RESILIS_UNSUPPORTED');
  assert.match(blpop.message, /BLPOP/);
  const watch = await captureError(() => svc.call('watch', uniqueKey('up-w')));
  assertCode(watch, 'ERR_RESILIS_UNSUPPORTED');
  assert.match(watch.message, /WATCH/);
  const sub = await captureError(() => svc.subscribe('up-channel'));
  assertCode(sub, 'ERR_RESILIS_UNSUPPORTED');
  assert.match(sub.message, /SUBSCRIBE/);
  assert.equal(rest.requests.length, mark);
  // the service still works after them
  assert.equal(await svc.ping(), true);
});

test('health and stats name the provider and the REST host, never the token', async () => {
  const health = await svc.healthCheck();
  assert.equal(health.healthy, true, JSON.stringify(health));
  assert.equal(health.provider, 'upstash');
  assert.equal(health.mode, 'upstash');
  assert.equal(health.host, '127.0.0.1');
  assert.equal(health.port, rest.port);
  assert.equal(health.topology.nodes[0].address, `127.0.0.1:${rest.port}`);
  assert.equal(health.topology.nodes[0].healthy, true);
  const stats = await svc.getStats();
  assert.equal(stats.provider, 'upstash');
  assert.equal(stats.host, '127.0.0.1');
  for (const text of [JSON.stringify(health), JSON.stringify(stats)]) assert.ok(!text.includes(rest.token));
});

test('a wrong token is an authentication error that does not show the token', async () => {
  const secret = 'wrong-token-' + uniqueKey('secret').slice(-12);
  const bad = upstashService({ upstashToken: secret });
  const err = await captureError(() => bad.get('k'));
  assertCode(err, 'ERR_RESILIS_CONFIG');
  assert.match(err.message, /authentication failed/);
  assert.match(err.message, /401/);
  assert.ok(!err.message.includes(secret));
  const health = await bad.healthCheck();
  assert.equal(health.healthy, false);
  const stats = await bad.getStats();
  for (const text of [JSON.stringify(health), JSON.stringify(stats), err.stack]) assert.ok(!text.includes(secret));
});

test('the environment selects the provider (UPSTASH_REDIS_REST_URL / _TOKEN)', async () => {
  const fromEnv = openServiceFromEnv({
    REDIS_PROVIDER: 'upstash',
    UPSTASH_REDIS_REST_URL: rest.url,
    UPSTASH_REDIS_REST_TOKEN: rest.token,
  });
  const k = uniqueKey('up-env');
  assert.equal(await fromEnv.set(k, 'env'), 'OK');
  assert.equal(await redis.cli('get', k), 'env');
});

// Seed 003's IRedisService calls, on REDIS_PROVIDER=local and REDIS_PROVIDER=upstash against the
// same redis-server: the same replies.
test('the IRedisService calls behave the same on the local and the upstash provider', async () => {
  const local = openService(redis);
  async function script(s, tag) {
    const key = uniqueKey(`seed3-${tag}`);
    const counter = uniqueKey(`seed3-counter-${tag}`);
    const out = [];
    out.push(await s.set(key, 'John Doe', { ex: 3600 }));
    out.push(await s.get(key));
    out.push(await s.incr(counter));
    out.push(await s.incr(counter));
    out.push(await s.expire(counter, 60));
    const ttl = await s.ttl(counter);
    out.push(ttl > 50 && ttl <= 60);
    out.push(await s.del(key));
    out.push(await s.get(key));
    out.push(await s.pipeline([
      { command: 'set', args: [key, 'value1'] },
      { command: 'incr', args: [counter] },
      { command: 'get', args: [key] },
      { command: 'incr', args: [key] },
    ]).then((r) => r.map((x) => (x instanceof Error ? `${x.code}:${x.message}` : x))));
    out.push(await s.ping());
    out.push(await redis.cli('get', counter));
    return out;
  }
  const onLocal = await script(local, 'local');
  const onUpstash = await script(svc, 'upstash');
  assert.deepEqual(onUpstash, onLocal);
  assert.equal(onUpstash[0], 'OK');
  assert.equal(onUpstash[9], true);
});

// The REST endpoint goes away (the HTTP server stops; every keep-alive connection is cut) and comes
// back on the same port: the fallback serves, writes are journalled (acknowledged means stored),
// then replayed to Redis exactly once, as for a TCP server.
test('the endpoint going away: the fallback serves, writes are journalled, then replayed when it returns', async () => {
  const s = upstashService({
    commandTimeout: 1000,
    connectTimeout: 500,
    reconnect: { minDelay: 50, maxDelay: 200 },
    circuitBreaker: { resetTimeout: 500 },
  });
  const [pre, during, counter, list] = ['pre', 'during', 'counter', 'list'].map((x) => uniqueKey(`up-out-${x}`));
  assert.equal(await s.set(pre, 'before'), 'OK');
  assert.equal(await s.rpush(list, 'a'), 1);
  await rest.stop();
  try {
    // served from the fallback's mirror of what Redis held
    assert.equal(await s.get(pre), 'before');
    assert.equal(await s.set(during, 'journalled'), 'OK');
    assert.equal(await s.incr(counter), 1);
    assert.equal(await s.incr(counter), 2);
    assert.equal(await s.get(during), 'journalled');
    const stats = await s.getStats();
    assert.equal(stats.degraded, true);
    assert.ok(stats.replay.pending >= 3, JSON.stringify(stats.replay));
    const health = await s.healthCheck();
    assert.equal(health.status, 'degraded');
    assert.equal(health.provider, 'upstash');
    // nothing of it reached Redis yet
    assert.equal(await redis.cli('exists', during), '0');
    assert.equal(await redis.cli('exists', counter), '0');
  } finally {
    await rest.start();
  }
  assert.equal(await eventually(async () => (await redis.cli('get', during)) === 'journalled', 10000), true);
  assert.equal(await eventually(async () => !(await s.getStats()).degraded, 10000), true);
  assert.equal(await redis.cli('get', counter), '2');
  assert.equal(await redis.cli('get', pre), 'before');
  const stats = await s.getStats();
  assert.equal(stats.replay.pending, 0);
  assert.ok(stats.replay.replayed >= 3, JSON.stringify(stats.replay));
  // and the service goes to Redis again
  assert.equal(await s.incr(counter), 3);
  assert.equal(await redis.cli('get', counter), '3');
});

test('nothing listening at the first connect: the service comes up degraded and replays when the endpoint appears', async () => {
  const fresh = await startUpstashServer({ redisPort: redis.port });
  await fresh.stop();
  const s = remember(createRedisService({
    provider: 'upstash', upstashUrl: fresh.url, upstashToken: fresh.token,
    enabled: true, connectTimeout: 500, commandTimeout: 1000, reconnect: { minDelay: 50, maxDelay: 200 },
  }));
  try {
    const k = uniqueKey('up-start');
    assert.equal(await s.set(k, 'early'), 'OK');
    assert.equal((await s.getStats()).degraded, true);
    await fresh.start();
    assert.equal(await eventually(async () => (await redis.cli('get', k)) === 'early', 10000), true);
  } finally {
    await fresh.close();
  }
});

test('HTTP keep-alive: sequential calls reuse one connection; the pool bounds the requests in flight', async () => {
  const s = upstashService({ poolSize: 2 });
  await s.ping();
  const before = rest.counts.connections;
  for (let i = 0; i < 20; i++) await s.get(uniqueKey('up-ka'));
  assert.ok(rest.counts.connections - before <= 1, `${rest.counts.connections - before} new connections for 20 sequential calls`);
  // 30 pipelines at once: each its own request, at most poolSize in flight and connections open
  rest.counts.peakInFlight = 0;
  const opened = rest.counts.connections;
  const k = uniqueKey('up-pool');
  const replies = await Promise.all(Array.from({ length: 30 }, () => s.pipeline([{ command: 'incr', args: [k] }, { command: 'get', args: [k] }])));
  assert.equal(replies.length, 30);
  assert.equal(await redis.cli('get', k), '30');
  assert.ok(rest.counts.peakInFlight <= 2, `peak ${rest.counts.peakInFlight} requests in flight with poolSize 2`);
  assert.ok(rest.counts.peakInFlight >= 1);
  assert.ok(rest.counts.connections - opened <= 2, `${rest.counts.connections - opened} new connections with poolSize 2`);
});

test('a stalled endpoint: a call gives up within commandTimeout (ERR_RESILIS_TIMEOUT for a write that may have run)', async () => {
  const s = upstashService({ commandTimeout: 300, circuitBreaker: { resetTimeout: 500 } });
  const k = uniqueKey('up-stall');
  await s.set(k, '1');
  rest.hang(true);
  const started = Date.now();
  try {
    const err = await captureError(() => s.incr(k));
    assertCode(err, 'ERR_RESILIS_TIMEOUT');
    assert.ok(Date.now() - started < 300 + 1500, `gave up after ${Date.now() - started} ms`);
  } finally {
    rest.hang(false);
  }
  // the held INCR is answered now: it ran once (its outcome was unknown to the caller, not repeated)
  assert.equal(await eventually(async () => (await redis.cli('get', k)) === '2', 5000), true);
});

test('https:// as Upstash is reached: rustls verifies the endpoint with the configured CA', async (t) => {
  const { makeCertificates } = await import('./harness/tls.mjs');
  const certs = await makeCertificates();
  const secure = await startUpstashServer({ redisPort: redis.port, tls: { key: certs.pem.serverKey, cert: certs.pem.serverCert } });
  t.after(async () => {
    await secure.close();
    await certs.cleanup();
  });
  assert.match(secure.url, /^https:\/\//);
  const good = remember(createRedisService({ provider: 'upstash', upstashUrl: secure.url, upstashToken: secure.token, tls: { ca: certs.pem.ca } }));
  const k = uniqueKey('up-tls');
  assert.equal(await good.set(k, Buffer.from([0x00, 0xff])), 'OK');
  assert.deepEqual(await raw.command('GET', k), Buffer.from([0x00, 0xff]));
  assert.equal(await good.get(uniqueKey('up-tls-none')), null);
  // a certificate from another CA is refused: an error (not the in-memory store of development
  // mode, which is for "nothing listens"), nothing stored
  const wrong = remember(createRedisService({
    provider: 'upstash', upstashUrl: secure.url, upstashToken: secure.token, tls: { ca: certs.pem.wrongCa },
  }));
  const k2 = uniqueKey('up-tls-wrong');
  const err = await captureError(() => wrong.set(k2, 'x'));
  assertCode(err, 'ERR_RESILIS_CONNECTION');
  assert.match(err.message, /invalid peer certificate: UnknownIssuer/);
  assert.ok(!err.message.includes(secure.token));
  assert.equal(await redis.cli('exists', k2), '0');
});
