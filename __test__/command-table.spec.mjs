// The command table (src/core/commands.rs, issue 18): the facade builds its methods from the
// binding's copy of it, keeps no list of its own, and what the table says holds at run time: the
// memory store answers exactly the rows it marks, and the generated methods work against Redis.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, loadResilis } from './harness/package.mjs';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const { commandTable } = require(path.join(repoRoot, 'binding.js'));
const commands = require(path.join(repoRoot, 'lib', 'commands.js'));
const { createRedisService } = loadResilis();

let redis;
const local = [];
before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const s of local) await s.disconnect().catch(() => {});
  await closeServices();
  await redis?.stop();
});

const table = commandTable();
const row = (name) => table.find((c) => c.name === name);
const shaped = (shape) => table.filter((c) => c.method === shape).map((c) => c.name);

test("the facade's method lists are the binding's table, not copies", () => {
  assert.ok(table.length > 150, `${table.length} rows`);
  assert.deepEqual(commands.TABLE, table);
  assert.deepEqual(commands.KEYED, shaped('keyed'));
  assert.deepEqual(commands.MULTI_KEY, shaped('keys'));
  assert.deepEqual(commands.BLOCKING, shaped('blocking'));
  assert.ok(commands.KEYED.includes('hget') && commands.MULTI_KEY.includes('del') && commands.BLOCKING.includes('blpop'));
  // No list of command names is left in the facade's sources (camelCase names map to table rows).
  for (const file of ['commands.js', 'multi.js']) {
    const src = readFileSync(path.join(repoRoot, 'lib', file), 'utf8');
    assert.doesNotMatch(src, /'zrevrangebyscore'|'sinter'|'bzpopmin'|'hincrbyfloat'/, `${file} lists commands`);
  }
  for (const [alias, name] of Object.entries(commands.CAMEL)) assert.ok(row(name), `${alias} names ${name}, not in the table`);
});

test('every method row is a method of the service, of multi() and of pipeline()', () => {
  const s = createRedisService({ enabled: false });
  local.push(s);
  const batches = { service: s, multi: s.multi(), pipeline: s.pipeline() };
  for (const c of table.filter((r) => r.method)) {
    for (const [where, obj] of Object.entries(batches)) assert.equal(typeof obj[c.name], 'function', `${where}.${c.name}`);
  }
  for (const alias of Object.keys(commands.CAMEL)) assert.equal(typeof s[alias], 'function', alias);
});

test('the flags a connectionless transport needs: blocking, stateful, pub/sub', () => {
  for (const name of ['blpop', 'brpoplpush', 'bzmpop', 'xread', 'xreadgroup', 'wait']) assert.ok(row(name).blocking, name);
  for (const name of ['watch', 'multi', 'exec', 'select', 'client', 'subscribe', 'psubscribe']) assert.ok(row(name).stateful, name);
  for (const name of ['subscribe', 'ssubscribe', 'publish', 'pubsub']) assert.ok(row(name).pubsub, name);
  assert.deepEqual(
    ['get', 'set', 'incr', 'evalsha'].map((n) => [row(n).read, row(n).write, row(n).idempotent, row(n).script]),
    [[true, false, false, false], [false, true, true, false], [false, true, false, false], [false, true, false, true]],
  );
  assert.equal(row('xadd').blocking, false);
});

test('the memory store answers exactly the rows marked memory', async () => {
  const s = createRedisService({ enabled: false });
  local.push(s);
  const unavailable = /not available while serving from memory/;
  // Connection-level commands are not sent through call().
  for (const c of table.filter((r) => !r.stateful && !r.blocking && !r.pubsub)) {
    const err = await s.call(c.name, 'k1', '1', '2').then(() => null, (e) => e);
    if (c.memory) assert.doesNotMatch(String(err?.message), unavailable, c.name);
    else assert.match(String(err?.message), unavailable, c.name);
  }
  assert.ok(table.some((c) => c.memory) && table.some((c) => !c.memory));
});

test('generated methods against Redis: any-number-of-keys rows take keys spread or as one array', async () => {
  const s = openService(redis);
  const [a, b, h] = [uniqueKey('ct'), uniqueKey('ct'), uniqueKey('ct')];
  await s.mset(a, '1', b, '2');
  assert.equal(await s.touch(a, b), 2);
  assert.equal(await s.touch([a, b]), 2);
  assert.equal(await s.exists([a, b]), 2);
  await s.pfadd(h, 'x', 'y');
  assert.equal(await s.pfcount([h]), 2);
  assert.deepEqual(await s.multi().touch(a, b).del([a, b]).exec(), [[null, 2], [null, 2]]);
  assert.equal(await s.hincrbyfloat(h + ':h', 'f', '1.5'), '1.5');
  assert.deepEqual(await s.pipeline().zadd(h + ':z', 1, 'm').zrangebyscore(h + ':z', 0, 2).exec(), [[null, 1], [null, ['m']]]);
});
