// Value compression (`compression: { algorithm, minBytes }`, issue 20 part 2) against a real
// redis-server: values at or over minBytes are stored compressed behind resilis' header (read raw
// over an independent connection), read back whole by any compressing service (lz4 or zstd), and a
// service without the option refuses them with ERR_RESILIS_DECODE instead of handing out the bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectResp } from './harness/resp.mjs';
import { useService } from './harness/suite.mjs';
import { openService, openServiceFromEnv, remember } from './harness/service.mjs';
import { startCluster } from './harness/cluster.mjs';
import { startUpstashServer } from './harness/upstash-server.mjs';
import { uniqueKey, captureError, assertCode, eventually } from './harness/util.mjs';

const MIN = 256;
const MAGIC = Buffer.from([0xc1, 0x52, 0x5a, 0x01]);
const TAG = { lz4: 1, zstd: 2 };

const ctx = useService({
  options: { compression: { algorithm: 'lz4', minBytes: MIN } },
  setup: async (c) => {
    c.raw = await connectResp(c.redis.port);
    c.zstd = openService(c.redis, { compression: { algorithm: 'zstd', minBytes: MIN } });
    c.plain = openService(c.redis);
  },
  teardown: (c) => { c.raw?.close(); },
});

// A JSON-like value of about `n` bytes (compresses well, as real payloads do).
function json(n, seed = 0) {
  const rows = [];
  let len = 2;
  for (let i = 0; len < n; i++) {
    const row = JSON.stringify({ id: seed + i, name: `user ${seed + i}`, email: `user${i}@example.com`, active: i % 3 === 0, score: (i * 7919) % 1000 });
    rows.push(row);
    len += row.length + 1;
  }
  return `[${rows.join(',')}]`.slice(0, n);
}

// Binary, compressible, not UTF-8.
function binary(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = i % 7 === 0 ? 0xff : (i * 31) % 11;
  return b;
}

const raw = (...args) => ctx.raw.command(...args);
const isFramed = (buf, algorithm) => Buffer.isBuffer(buf) && buf.subarray(0, 4).equals(MAGIC) && buf[4] === TAG[algorithm];

for (const algorithm of ['lz4', 'zstd']) {
  test(`${algorithm}: strings and Buffers round trip across minBytes; only those at or over it are compressed`, async () => {
    const svc = algorithm === 'lz4' ? ctx.svc : ctx.zstd;
    const cases = [
      ['below', json(MIN - 1)],
      ['at', json(MIN)],
      ['big', json(16 * 1024)],
      ['unicode', `${'héllo wörld ✓ 日本語 🚀 '.repeat(40)}`],
    ];
    for (const [label, value] of cases) {
      const k = uniqueKey(`${algorithm}-${label}`);
      assert.equal(await svc.set(k, value), 'OK');
      assert.equal(await svc.get(k), value, label);
      const stored = await raw('get', k);
      const bytes = Buffer.byteLength(value);
      assert.equal(isFramed(stored, algorithm), bytes >= MIN, `${label}: ${bytes} bytes stored framed?`);
      if (bytes >= MIN) assert.ok(stored.length < bytes, `${label}: ${stored.length} stored for ${bytes}`);
      else assert.equal(stored.toString(), value);
    }
    for (const n of [MIN - 1, MIN, 20000]) {
      const k = uniqueKey(`${algorithm}-buf-${n}`);
      const value = binary(n);
      await svc.set(k, value);
      assert.ok((await svc.getBuffer(k)).equals(value), `Buffer of ${n}`);
      assert.equal(isFramed(await raw('get', k), algorithm), n >= MIN);
    }
  });
}

test('every string write compresses its value and every string read decompresses it', async () => {
  const svc = ctx.svc;
  const v1 = json(4000, 1);
  const v2 = json(5000, 2);
  const [a, b, c, d, e, f, g] = Array.from({ length: 7 }, (_, i) => uniqueKey(`str-${i}`));
  await svc.set(a, v1, 'EX', 100);
  await svc.setex(b, 100, v1);
  await svc.psetex(c, 100000, v1);
  assert.equal(await svc.setnx(d, v1), 1);
  await svc.mset(e, v1, f, v2);
  assert.equal(await svc.call('msetnx', g, v2), 1);
  for (const k of [a, b, c, d, e, g]) assert.ok(isFramed(await raw('get', k), 'lz4'), k);
  assert.ok(Number(await ctx.redis.cli('ttl', a)) > 0, 'the options after the value still apply');
  assert.deepEqual(await svc.mget(a, b, c, d, e, f, g, uniqueKey('none')), [v1, v1, v1, v1, v1, v2, v2, null]);
  assert.equal(await svc.getset(a, v2), v1, "GETSET's reply is the old value, decompressed");
  assert.equal(await svc.call('set', a, v1, 'GET'), v2, "SET ... GET's reply too");
  assert.equal(await svc.call('getex', a, 'EX', 50), v1);
  assert.equal(await svc.getdel(a), v1);
  assert.equal(await svc.get(a), null);
  // APPEND is never compressed (appending to compressed bytes would corrupt them): a small value
  // appended past minBytes stays plain and reads back whole.
  const small = uniqueKey('append');
  await svc.set(small, 'x'.repeat(MIN - 10));
  await svc.append(small, 'y'.repeat(100));
  assert.equal((await raw('get', small)).toString(), 'x'.repeat(MIN - 10) + 'y'.repeat(100));
  assert.equal(await svc.get(small), 'x'.repeat(MIN - 10) + 'y'.repeat(100));
});

test('hash values are compressed, fields are not; every hash read decompresses', async () => {
  const svc = ctx.svc;
  const h = uniqueKey('hash');
  const big = json(3000, 3);
  const other = json(2000, 4);
  await svc.hset(h, { big, small: 'tiny', bin: 'x' });
  await svc.hset(h, 'other', other);
  await svc.hmset(h, 'm', big);
  assert.equal(await svc.hsetnx(h, 'nx', other), 1);
  assert.ok(isFramed(await raw('hget', h, 'big'), 'lz4'));
  assert.equal((await raw('hget', h, 'small')).toString(), 'tiny');
  assert.deepEqual((await raw('hkeys', h)).map(String).sort(), ['big', 'bin', 'm', 'nx', 'other', 'small']);
  assert.equal(await svc.hget(h, 'big'), big);
  assert.deepEqual(await svc.hmget(h, 'big', 'small', 'nx', 'missing'), [big, 'tiny', other, null]);
  assert.deepEqual(await svc.hgetall(h), { big, small: 'tiny', bin: 'x', other, m: big, nx: other });
  assert.deepEqual((await svc.hvals(h)).sort(), [big, 'tiny', 'x', other, big, other].sort());
  const [, pairs] = await svc.hscan(h, 0, 'COUNT', 100);
  const scanned = {};
  for (let i = 0; i < pairs.length; i += 2) scanned[pairs[i]] = pairs[i + 1];
  assert.deepEqual(scanned, { big, small: 'tiny', bin: 'x', other, m: big, nx: other });
});

test('list items are compressed and every list read decompresses (blocking pops too)', async () => {
  const svc = ctx.svc;
  const l = uniqueKey('list');
  const items = [json(1000, 5), 'short', json(2000, 6), json(1500, 7)];
  await svc.rpush(l, items[0], items[1]);
  await svc.rpush(l, items[2]);
  await svc.lpush(l, items[3]);
  assert.deepEqual(await svc.lrange(l, 0, -1), [items[3], items[0], items[1], items[2]]);
  assert.ok(isFramed(await raw('lindex', l, 1), 'lz4'));
  assert.equal(await svc.lindex(l, 1), items[0]);
  // LINSERT, LPOS and LREM find an item by its value: the pivot is compressed as the items were.
  const inserted = json(900, 8);
  assert.equal(await svc.linsert(l, 'BEFORE', items[2], inserted), 5);
  assert.equal(await svc.lpos(l, items[2]), 4);
  await svc.lset(l, 0, json(800, 9));
  assert.equal(await svc.lindex(l, 0), json(800, 9));
  assert.equal(await svc.lrem(l, 0, inserted), 1);
  assert.equal(await svc.lpop(l), json(800, 9));
  assert.deepEqual(await svc.rpop(l, 2), [items[2], items[1]]);
  assert.deepEqual(await svc.blpop(l, 1), [l, items[0]]);
  await svc.rpush(l, items[2], items[3]);
  assert.deepEqual(await svc.brpop(l, 1), [l, items[3]]);
  const to = uniqueKey('list-to');
  assert.equal(await svc.blmove(l, to, 'LEFT', 'RIGHT', 1), items[2]);
  assert.deepEqual(await svc.lrange(to, 0, -1), [items[2]]);
  await svc.rpush(l, items[0], items[3]);
  assert.deepEqual(await svc.blmpop(1, 1, l, 'LEFT', 'COUNT', 2), [l, [items[0], items[3]]]);
  await svc.rpush(l, items[2], 'short');
  assert.deepEqual(await svc.call('lmpop', 1, l, 'RIGHT', 'COUNT', 2), [l, ['short', items[2]]]);
});

test('a compressed value read by a service without compression is ERR_RESILIS_DECODE, never its bytes', async () => {
  const k = uniqueKey('nodecode');
  const value = json(4096, 10);
  await ctx.svc.set(k, value);
  const err = await captureError(() => ctx.plain.get(k), 'get of a compressed value');
  assertCode(err, 'ERR_RESILIS_DECODE');
  assert.match(err.message, /GET/);
  assert.match(err.message, /lz4/);
  assert.match(err.message, /compression/);
  assert.equal(err.sent, 'yes');
  const h = uniqueKey('nodecode-h');
  await ctx.zstd.hset(h, 'f', value);
  assertCode(await captureError(() => ctx.plain.hgetall(h)), 'ERR_RESILIS_DECODE');
  assert.match((await captureError(() => ctx.plain.hget(h, 'f'))).message, /zstd/);
  const l = uniqueKey('nodecode-l');
  await ctx.svc.rpush(l, 'plain', value);
  assertCode(await captureError(() => ctx.plain.lrange(l, 0, -1)), 'ERR_RESILIS_DECODE');
  assertCode(await captureError(() => ctx.plain.mget(uniqueKey('x'), k)), 'ERR_RESILIS_DECODE');
  // The plain service still reads plain values, and the calls after a refusal.
  assert.equal(await ctx.plain.lindex(l, 0), 'plain');
  // A corrupt value (its last byte changed) is refused by a compressing service too.
  const stored = await raw('get', k);
  stored[stored.length - 1] ^= 1;
  const bad = uniqueKey('corrupt');
  await raw('set', bad, stored);
  const corrupt = await captureError(() => ctx.svc.get(bad), 'get of a corrupt value');
  assertCode(corrupt, 'ERR_RESILIS_DECODE');
  assert.match(corrupt.message, /corrupt/);
});

test('a reader reads both algorithms: lz4 by a zstd service and zstd by an lz4 service', async () => {
  const value = json(8000, 11);
  const a = uniqueKey('by-lz4');
  const b = uniqueKey('by-zstd');
  await ctx.svc.set(a, value);
  await ctx.zstd.set(b, value);
  assert.ok(isFramed(await raw('get', a), 'lz4') && isFramed(await raw('get', b), 'zstd'));
  assert.deepEqual(await ctx.zstd.mget(a, b), [value, value]);
  assert.deepEqual(await ctx.svc.mget(a, b), [value, value]);
});

test('plain values written by redis-cli read unchanged, however long', async () => {
  const short = uniqueKey('cli-short');
  const long = uniqueKey('cli-long');
  const value = json(6000, 12);
  await ctx.redis.cli('set', short, 'from cli');
  await ctx.redis.cliInput(value, 'set', long);
  await ctx.redis.cli('rpush', `${long}:l`, 'a', 'b');
  await ctx.redis.cli('hset', `${long}:h`, 'f', 'v');
  for (const svc of [ctx.svc, ctx.zstd, ctx.plain]) {
    assert.equal(await svc.get(short), 'from cli');
    assert.equal(await svc.get(long), value);
    assert.deepEqual(await svc.lrange(`${long}:l`, 0, -1), ['a', 'b']);
    assert.deepEqual(await svc.hgetall(`${long}:h`), { f: 'v' });
  }
});

test('the value stored in Redis is smaller: STRLEN and MEMORY USAGE of a 16 KiB JSON value', async () => {
  const value = json(16 * 1024, 13);
  const sizes = {};
  for (const [name, svc] of [['plain', ctx.plain], ['lz4', ctx.svc], ['zstd', ctx.zstd]]) {
    const k = uniqueKey(`size-${name}`);
    await svc.set(k, value);
    sizes[name] = { strlen: Number(await ctx.redis.cli('strlen', k)), memory: Number(await ctx.redis.cli('memory', 'usage', k)) };
  }
  assert.equal(sizes.plain.strlen, 16 * 1024);
  for (const name of ['lz4', 'zstd']) {
    assert.ok(sizes[name].strlen < sizes.plain.strlen / 3, `${name}: ${JSON.stringify(sizes)}`);
    assert.ok(sizes[name].memory < sizes.plain.memory / 2, `${name}: ${JSON.stringify(sizes)}`);
  }
  assert.ok(sizes.zstd.strlen < sizes.lz4.strlen, `zstd compresses JSON tighter: ${JSON.stringify(sizes)}`);
});

test('getStats().compression counts the values compressed and decompressed; null without the option', async () => {
  const svc = openService(ctx.redis, { compression: { algorithm: 'zstd', minBytes: MIN } });
  const [a, b, c] = [uniqueKey('stats-a'), uniqueKey('stats-b'), uniqueKey('stats-c')];
  await svc.mset(a, json(4000, 19), b, json(3000, 20), c, 'small');
  assert.deepEqual(await svc.mget(a, b, c), [json(4000, 19), json(3000, 20), 'small']);
  const { compression } = await svc.getStats();
  assert.equal(compression.algorithm, 'zstd');
  assert.equal(compression.minBytes, MIN);
  assert.equal(compression.compressed, 2);
  assert.equal(compression.bytesIn, 7000);
  assert.ok(compression.bytesOut > 0 && compression.bytesOut < 7000 / 3, JSON.stringify(compression));
  assert.equal(compression.decompressed, 2);
  assert.equal(compression.refused, 0);
  assert.equal((await ctx.plain.getStats()).compression, null);
});

test('a value that starts like the header is written so it reads back as it was', async () => {
  const k = uniqueKey('lookalike');
  const value = Buffer.concat([MAGIC, Buffer.from([1, 5, 0, 0, 0]), Buffer.from('not compressed')]);
  await ctx.svc.set(k, value);
  assert.ok((await ctx.svc.getBuffer(k)).equals(value));
  assert.ok((await ctx.plain.getBuffer(k)).equals(value), 'a stored (uncompressed) frame is read by any service');
});

test('pipelines and MULTI/EXEC compress and decompress as single calls do', async () => {
  const k = uniqueKey('multi');
  const value = json(3000, 14);
  const piped = await ctx.svc.pipeline().set(k, value).get(k).exec();
  assert.deepEqual(piped, [[null, 'OK'], [null, value]]);
  const multi = await ctx.svc.multi().set(`${k}:2`, value).get(`${k}:2`).hset(`${k}:h`, 'f', value).hgetall(`${k}:h`).exec();
  assert.deepEqual(multi, [[null, 'OK'], [null, value], [null, 1], [null, { f: value }]]);
  assert.ok(isFramed(await raw('get', `${k}:2`), 'lz4'));
});

test('the near cache and the in-memory store serve compressed values decompressed', async () => {
  const near = openService(ctx.redis, { compression: { algorithm: 'zstd', minBytes: MIN }, nearCache: { maxSize: 4 << 20, ttl: 30_000 } });
  await near.connect();
  const [k, h] = [uniqueKey('near'), uniqueKey('near-h')];
  const value = json(5000, 15);
  await near.set(k, value);
  await near.hset(h, 'f', value);
  assert.equal(await near.get(k), value);
  assert.deepEqual(await near.hgetall(h), { f: value });
  const before = (await near.getStats()).nearCache.hits;
  for (let i = 0; i < 20; i++) {
    assert.equal(await near.get(k), value);
    assert.equal(await near.hget(h, 'f'), value);
    assert.deepEqual(await near.mget(k, h + ':none'), [value, null]);
  }
  assert.ok((await near.getStats()).nearCache.hits - before >= 40, 'served by the near cache');
  const next = json(5000, 16);
  await ctx.svc.set(k, next);
  assert.equal(await eventually(async () => (await near.get(k)) === next), true, 'invalidated, then read anew');

  const memory = openService(ctx.redis, { enabled: false, compression: { algorithm: 'lz4', minBytes: MIN } });
  await memory.set(k, value);
  await memory.hset(`${k}:h`, 'f', value);
  assert.equal(await memory.get(k), value);
  assert.deepEqual(await memory.hgetall(`${k}:h`), { f: value });
});

test('over the Upstash REST provider the same bytes are stored and read', async () => {
  const rest = await startUpstashServer({ redisPort: ctx.redis.port });
  try {
    const { createRedisService } = ctx.resilis;
    const svc = remember(createRedisService({ provider: 'upstash', upstashUrl: rest.url, upstashToken: rest.token, compression: { algorithm: 'zstd', minBytes: MIN } }));
    const k = uniqueKey('upstash');
    const value = json(7000, 18);
    await svc.set(k, value);
    await svc.rpush(`${k}:l`, value, 'small');
    assert.ok(isFramed(await raw('get', k), 'zstd'), 'stored compressed through the REST API');
    assert.equal(await svc.get(k), value);
    assert.deepEqual(await svc.lrange(`${k}:l`, 0, -1), [value, 'small']);
    assert.equal(await ctx.svc.get(k), value, 'and read by a TCP service');
    await svc.disconnect();
  } finally {
    await rest.close();
  }
});

test('on a cluster (a lane per master, near cache by broadcast tracking), configured by REDIS_COMPRESSION', async () => {
  const cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  try {
    const env = { REDIS_CLUSTER: 'true', REDIS_ENABLED: 'true', REDIS_NEAR_CACHE: 'true', REDIS_COMPRESSION: 'zstd', REDIS_COMPRESSION_MIN_BYTES: String(MIN) };
    cluster.nodes.slice(0, 3).forEach((n, i) => {
      env[`REDIS_NODE${i + 1}_HOST`] = '127.0.0.1';
      env[`REDIS_NODE${i + 1}_PORT`] = String(n.port);
    });
    const svc = openServiceFromEnv(env);
    const keys = Array.from({ length: 12 }, (_, i) => uniqueKey(`cluster-${i}`));
    const values = keys.map((_, i) => json(2000 + i * 100, 30 + i));
    await Promise.all(keys.map((k, i) => svc.set(k, values[i])));
    assert.deepEqual(await svc.mget(keys), values, 'MGET across slots, gathered and decoded');
    for (const k of keys.slice(0, 3)) {
      const owner = await cluster.masterForKey(k);
      const conn = await connectResp(owner.port);
      try {
        assert.ok(isFramed(await conn.command('get', k), 'zstd'), `stored compressed on ${owner.port}`);
      } finally {
        conn.close();
      }
    }
    // Hits need every node's broadcast tracking up (a loaded machine takes a moment).
    await eventually(async () => (await svc.getStats()).nearCache.tracking === true, 10000, 20);
    const before = (await svc.getStats()).nearCache.hits;
    for (let round = 0; round < 5; round++) for (const [i, k] of keys.entries()) assert.equal(await svc.get(k), values[i]);
    assert.ok((await svc.getStats()).nearCache.hits > before, 'near-cache hits, decompressed');
    assertCode(await captureError(() => openServiceFromEnv({ ...env, REDIS_COMPRESSION: 'snappy' })), 'ERR_RESILIS_CONFIG');
    await svc.disconnect();
  } finally {
    await cluster.stop();
  }
});

test('a bad compression option is ERR_RESILIS_CONFIG naming the option', () => {
  const { createRedisService } = ctx.resilis;
  const cases = [
    [{ compression: { algorithm: 'gzip' } }, /compression\.algorithm/],
    [{ compression: {} }, /compression\.algorithm/],
    [{ compression: { algorithm: 'lz4', minBytes: -1 } }, /compression\.minBytes/],
    [{ compression: { algorithm: 'zstd', minBytes: 'big' } }, /compression\.minBytes/],
    [{ compression: 7 }, /compression/],
  ];
  for (const [options, named] of cases) {
    let thrown;
    try {
      createRedisService({ url: ctx.redis.url, lazyConnect: true, ...options });
    } catch (err) {
      thrown = err;
    }
    assertCode(thrown, 'ERR_RESILIS_CONFIG');
    assert.match(thrown.message, named);
  }
});

// Last: it restarts the server under the other services.
test('writes acknowledged during an outage are journalled compressed and replayed so', async () => {
  const svc = openService(ctx.redis, {
    compression: { algorithm: 'lz4', minBytes: MIN },
    commandTimeout: 1000,
    connectTimeout: 500,
    reconnect: { minDelay: 5, maxDelay: 50 },
  });
  svc.on('error', () => {});
  await svc.ping();
  const k = uniqueKey('outage');
  const value = json(6000, 17);
  await ctx.redis.kill('SIGKILL');
  try {
    // The first write may be a breaker's trial and fail; the next is served by the fallback.
    await svc.set(k, value).catch(() => svc.set(k, value));
    assert.equal(await svc.get(k), value, 'read back from the fallback store');
  } finally {
    await ctx.redis.restart();
    ctx.raw.close();
    ctx.raw = await connectResp(ctx.redis.port);
  }
  const drained = await eventually(async () => {
    const { replay, degraded } = await svc.getStats();
    return !degraded && replay.pending === 0 && replay.replayed === replay.journaled;
  }, 30000, 50);
  assert.ok(drained, 'the journal drained');
  assert.ok(isFramed(await raw('get', k), 'lz4'), 'replayed compressed');
  assert.equal(await eventually(async () => (await ctx.svc.get(k)) === value, 15000), true, 'read by the other service once it is back on Redis');
});
