// The package as a consumer sees it: child `node` processes load it through package.json
// (CommonJS require and ESM import, via "main"/"exports"), and TypeScript checks index.d.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startRedis } from './harness/redis.mjs';
import { repoRoot } from './harness/package.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { uniqueKey } from './harness/util.mjs';

let redis;
let consumerDir; // a throwaway "app" with node_modules/resilis -> the repo

before(async () => {
  redis = await startRedis();
  consumerDir = await mkdtemp(path.join(os.tmpdir(), 'resilis-consumer-'));
  await mkdir(path.join(consumerDir, 'node_modules', '@types'), { recursive: true });
  await symlink(repoRoot, path.join(consumerDir, 'node_modules', 'resilis'), 'dir');
  const typesNode = path.join(repoRoot, 'node_modules', '@types', 'node');
  if (existsSync(typesNode)) await symlink(typesNode, path.join(consumerDir, 'node_modules', '@types', 'node'), 'dir');
  await writeFile(path.join(consumerDir, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
});

after(async () => {
  if (consumerDir) await rm(consumerDir, { recursive: true, force: true });
  await redis?.stop();
});

const EXPORTS = ['createRedisService', 'getRedisService', 'redisService', 'RedisServiceFactory', 'ResilisError'];

async function writeConsumer(name, source) {
  const file = path.join(consumerDir, name);
  await writeFile(file, source);
  return file;
}

test('CommonJS: require(<repo path>) loads the package and writes to Redis', async () => {
  const key = uniqueKey('cjs-path');
  const file = await writeConsumer('cjs-path.cjs', `
    const r = require(${JSON.stringify(repoRoot)});
    (async () => {
      const svc = r.getRedisService();
      const reply = await svc.set(process.argv[2], 'cjs');
      console.log(JSON.stringify({ exports: ${JSON.stringify(EXPORTS)}.filter((n) => r[n] !== undefined), reply }));
      await svc.disconnect();
    })().catch((e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exitCode = 1; });
  `);
  const res = await runNode([file, key], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  assert.deepEqual(lastJson(res.stdout), { exports: EXPORTS, reply: 'OK' });
  assert.equal(await redis.cli('get', key), 'cjs');
});

test('CommonJS: require("resilis") resolves through package.json "exports"', async () => {
  const key = uniqueKey('cjs-name');
  const file = await writeConsumer('cjs-name.cjs', `
    const { redisService, createRedisService } = require('resilis');
    const resolved = require.resolve('resilis');
    (async () => {
      await redisService.set(process.argv[2], 'cjs-by-name');
      const other = createRedisService();
      const read = await other.get(process.argv[2]);
      console.log(JSON.stringify({ resolved, read }));
      await other.disconnect();
      await redisService.disconnect();
    })().catch((e) => { console.log(JSON.stringify({ error: e.code || e.message })); process.exitCode = 1; });
  `);
  const res = await runNode([file, key], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  const out = lastJson(res.stdout);
  assert.equal(out.resolved, path.join(repoRoot, 'lib', 'index.js'));
  assert.equal(out.read, 'cjs-by-name');
  assert.equal(await redis.cli('get', key), 'cjs-by-name');
});

test('ESM: import { getRedisService } from "resilis" (exports.import) writes to Redis', async () => {
  const key = uniqueKey('esm-name');
  const file = await writeConsumer('esm-name.mjs', `
    import { getRedisService, redisService, RedisServiceFactory, ResilisError, createRedisService } from 'resilis';
    import * as ns from 'resilis';
    const svc = getRedisService();
    try {
      const reply = await svc.set(process.argv[2], 'esm');
      const names = ${JSON.stringify(EXPORTS)}.filter((n) => ns[n] !== undefined);
      console.log(JSON.stringify({ reply, names, resolved: import.meta.resolve('resilis'),
        types: [typeof createRedisService, typeof redisService, typeof RedisServiceFactory, typeof ResilisError] }));
    } catch (e) {
      console.log(JSON.stringify({ error: e.code || e.message }));
      process.exitCode = 1;
    }
    await svc.disconnect();
  `);
  const res = await runNode([file, key], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  const out = lastJson(res.stdout);
  assert.equal(out.reply, 'OK');
  assert.deepEqual(out.names, EXPORTS);
  assert.deepEqual(out.types, ['function', 'object', 'object', 'function']);
  assert.equal(out.resolved, pathToFileURL(path.join(repoRoot, 'lib', 'index.mjs')).href);
  assert.equal(await redis.cli('get', key), 'esm');
});

test('ESM and CommonJS in one process share the same singleton (no dual-package hazard)', async () => {
  const file = await writeConsumer('dual.mjs', `
    import { createRequire } from 'node:module';
    import { getRedisService, ResilisError } from 'resilis';
    const require = createRequire(import.meta.url);
    const cjs = require('resilis');
    console.log(JSON.stringify({ sameSingleton: cjs.getRedisService() === getRedisService(), sameError: cjs.ResilisError === ResilisError }));
    await getRedisService().disconnect();
  `);
  const res = await runNode([file], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  assert.deepEqual(lastJson(res.stdout), { sameSingleton: true, sameError: true });
});

test('ESM: import from the file URL of lib/index.mjs', async () => {
  const key = uniqueKey('esm-url');
  const url = pathToFileURL(path.join(repoRoot, 'lib', 'index.mjs')).href;
  const res = await runNode(['--input-type=module', '-e', `
    import { createRedisService } from ${JSON.stringify(url)};
    const svc = createRedisService();
    console.log(JSON.stringify({ reply: await svc.set(process.argv[1], 'esm-url') }));
    await svc.disconnect();
  `, key], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  assert.deepEqual(lastJson(res.stdout), { reply: 'OK' });
  assert.equal(await redis.cli('get', key), 'esm-url');
});

test('"resilis/express" resolves for require and import, to the same middleware as the main entry', async () => {
  const file = await writeConsumer('express-subpath.mjs', `
    import { createRequire } from 'node:module';
    import * as esm from 'resilis/express';
    import { cacheMiddleware, getRedisCacheService } from 'resilis';
    const require = createRequire(import.meta.url);
    const cjs = require('resilis/express');
    const names = ['CacheMiddleware', 'cache', 'cacheMiddleware', 'healthRouter', 'rateLimit', 'rateLimitMiddleware'];
    console.log(JSON.stringify({
      esm: names.filter((n) => typeof esm[n] === 'function'),
      cjs: names.filter((n) => typeof cjs[n] === 'function'),
      same: esm.cacheMiddleware === cjs.cacheMiddleware && cjs.cacheMiddleware === cacheMiddleware,
      cacheService: typeof getRedisCacheService().getOrSet,
    }));
    await getRedisCacheService().service.disconnect();
  `);
  const res = await runNode([file], { env: { REDIS_URL: redis.url }, cwd: consumerDir });
  assert.equal(res.code, 0, `stdout: ${res.stdout}\nstderr: ${res.stderr}`);
  const names = ['CacheMiddleware', 'cache', 'cacheMiddleware', 'healthRouter', 'rateLimit', 'rateLimitMiddleware'];
  assert.deepEqual(lastJson(res.stdout), { esm: names, cjs: names, same: true, cacheService: 'function' });
});

// ---- TypeScript ----

const TS_GOOD = `
import { createRedisService, getRedisService, redisService, RedisServiceFactory, ResilisError } from 'resilis';
import { getRedisCacheService, createRedisCacheService, parseFence, RedisCacheService, RateLimitResult, QueueStats } from 'resilis';
import { cacheMiddleware, CacheMiddleware, healthRouter, rateLimitMiddleware } from 'resilis/express';

async function main(): Promise<void> {
  const svc = createRedisService({ url: 'redis://127.0.0.1:6379', poolSize: 2, connectTimeout: 1000, lazyConnect: true });
  await svc.connect();
  const connected: boolean = svc.isConnected;
  const pong: boolean = await svc.ping();
  const v: string | null = await svc.get('k');
  const b: Buffer | null = await svc.getBuffer('k');
  const ok1: string | null = await svc.set('k', 'v', { EX: 300 });
  const ok2: string | null = await svc.set('k', 1, 10);
  const ok3: string | null = await svc.set('k', Buffer.from([1, 2]), { NX: true, PX: 100 });
  const ok4: string | null = await svc.set('k', 'v', { ex: 3600 });
  const many: (string | null)[] = await svc.mget(['a', 'b']);
  await svc.mset({ a: '1', b: 2 }, 60);
  const n1: number = await svc.del('a', 'b');
  const n2: number = await svc.exists('a');
  const n3: number = await svc.incr('c');
  const n4: number = await svc.incrBy('c', 2);
  const n5: number = await svc.ttl('c');
  await svc.expire('c', 10);
  await svc.hSet('h', 'f', 'v');
  await svc.hset('h', { f: 'v' });
  const all: Record<string, string> = await svc.hGetAll('h');
  const f: string | null = await svc.hget('h', 'f');
  const list: string[] = await svc.lrange('l', 0, -1);
  const members: string[] = await svc.smembers('s');
  const score: string | null = await svc.zscore('z', 'm');
  const receivers: number = await svc.publish('ch', 'msg');
  const held: number = await svc.subscribe('ch', (message: string, channel: string) => void [message, channel]);
  await svc.psubscribe('ch:*', (message: string, channel: string, pattern: string) => void [message, channel, pattern]);
  svc.on('message', (channel: string, message: string) => void [channel, message]);
  const left: number = await svc.unsubscribe('ch');
  await svc.punsubscribe();
  const replies: unknown[] = await svc.pipeline([{ command: 'set', args: ['k', 'v'] }, { command: 'incr', args: ['c'] }]);
  const results = await svc.multi().set('k', 'v').incr('c').exec();
  const count = results?.[0]?.[1];
  const raw: unknown = await svc.call('PING');
  const evald: unknown = await svc.eval('return 1', 0);

  const client = svc.getClient();
  await client.lPush('l', 'x');
  await client.zAdd('z', [{ score: 1, value: 'a' }]);
  const isMember: number = await client.sIsMember('s', 'a');
  const tx = client.multi();
  tx.incr('rl');
  tx.expire('rl', 60);
  const txResults: unknown[] = await tx.exec();
  await client.set('sess', 'v', { expiration: { type: 'EX', value: 60 } });
  await client.set('sess', 'v', { condition: 'NX', GET: true });
  for await (const keys of client.scanIterator({ MATCH: 'sess:*', COUNT: 100 })) void (keys satisfies string[]);
  await client.subscribe('ch', (m: string, c: string) => void [m, c]);
  await client.subscribe('ch', (m: Buffer) => void m, true);
  const dupClient = await client.duplicate().connect();
  await dupClient.close();
  svc.defineCommand('myIncr', { numberOfKeys: 1, lua: 'return 1' });
  const status: 'wait' | 'connecting' | 'ready' | 'reconnecting' | 'end' = svc.status;
  for await (const keys of svc.duplicate({ lazyConnect: true }).scanStream({ match: 'k*', count: 10 })) void keys;
  const buf: Record<string, Buffer> = await svc.hgetallBuffer('h');

  const single = getRedisService({ enabled: true });
  await redisService.get('x');
  const healthy: boolean = await RedisServiceFactory.healthCheck();
  const topo = (await svc.healthCheck()).topology;
  const nodeLatency: number | null = topo.nodes[0].latency;
  const clusterState: string | undefined = (await svc.getStats()).topology.clusterState;
  for (const node of await svc.scanNodes()) await node.scan(0, { match: 'user:*', count: 100 });
  const inst = RedisServiceFactory.getInstance();
  await RedisServiceFactory.create({ host: 'localhost', port: 6379 }).disconnect();
  try {
    await svc.get('k');
  } catch (e) {
    if (e instanceof ResilisError) {
      const code: string = e.code;
      void code;
    }
  }
  await svc.disconnect();
  await svc.quit();
  void [connected, pong, v, b, ok1, ok2, ok3, ok4, many, n1, n2, n3, n4, n5, all, f, list, members, score, receivers,
    replies, count, raw, evald, isMember, txResults, status, buf, single, healthy, inst];
}
void main;

async function patterns(): Promise<void> {
  const cache: RedisCacheService = getRedisCacheService();
  const other = createRedisCacheService({ service: createRedisService(), rateLimit: { failClosed: true } });
  await cache.set('user:1', { name: 'Ada' }, 60);
  const user = await cache.get<{ name: string }>('user:1');
  const name: string | undefined = user?.name;
  const fresh: number[] = await cache.getOrSet('k', async () => [1, 2], 60, { lock: { ttlMs: 1000, waitMs: 1000 } });
  const deleted: number = await cache.invalidatePattern('user:*');
  await cache.setSession('s', { userId: 'u' }, 3600);
  const touched: boolean = await cache.touchSession('s', 60);
  const rl: RateLimitResult = await cache.checkRateLimit('ip', 100, 60);
  const rl2 = await other.checkRateLimit('ip', { limit: 10, windowMs: 1000, algorithm: 'token-bucket' });
  const allowed: boolean = rl.allowed && rl2.allowed;
  const token: string | null = await cache.acquireLock('res', 30);
  const fence: number | null = parseFence(token);
  if (token) await cache.releaseLock('res', token);
  const out: string = await cache.withLock('res', async ({ fence: f, signal }) => (signal.aborted ? '' : String(f)), { ttl: 5, retries: 3, retryDelay: 50 });
  const id: string = await cache.enqueue('emails', { to: 'a@b.c' }, { delay: 1000 });
  const job = await cache.dequeue<{ to: string }>('emails', { visibilityTimeoutMs: 5000 });
  if (job) await cache.ack('emails', job.id);
  const stats: QueueStats = await cache.queueStats('emails');
  const receivers: number = await cache.publish('ch', { a: 1 });
  await cache.subscribe<{ a: number }>('ch', (message, channel: string) => void [message.a, channel]);
  await cache.unsubscribe('ch');
  const mw = cacheMiddleware({ ttlSeconds: 300, keyPrefix: 'api:products', includeQueryParams: true, varyByHeaders: ['accept'] });
  const hitRate: number = mw.getStats().hitRate;
  const cm = new CacheMiddleware(cache);
  const handler = cm.cache({ ttlSeconds: 60 });
  await cm.invalidateRoute('/api/products');
  const health = healthRouter({ service: createRedisService() });
  const limiter = rateLimitMiddleware({ limit: 100, windowMs: 60000, keyGenerator: (req) => String(req.ip) });
  void [name, fresh, deleted, touched, allowed, fence, out, id, stats, receivers, hitRate, handler, health, limiter, job?.data.to];
}
void patterns;
`;

// Each of these must NOT compile: the declarations are real types, not `any`.
const TS_BAD = {
  'get resolves string | null, not number': `import { createRedisService } from 'resilis';
    async function f() { const n: number = await createRedisService().get('k'); void n; }`,
  'ping resolves boolean, not string': `import { createRedisService } from 'resilis';
    async function f() { const s: string = await createRedisService().ping(); void s; }`,
  'no such method': `import { createRedisService } from 'resilis';
    async function f() { await createRedisService().definitelyNotAMethod('k'); }`,
  'unknown option name': `import { createRedisService } from 'resilis';
    createRedisService({ notAnOption: true });`,
  'checkRateLimit resolves a result object, not a boolean': `import { getRedisCacheService } from 'resilis';
    async function f() { const ok: boolean = await getRedisCacheService().checkRateLimit('k', 1, 1); void ok; }`,
};

function findTsc() {
  const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
  return existsSync(tsc) ? tsc : null;
}

// Type-check `files` ({ name: source }) as one strict nodenext ESM project inside the consumer app.
async function typecheck(project, files) {
  const dir = path.join(consumerDir, `ts-${project}`);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'package.json'), JSON.stringify({ name: `ts-${project}`, private: true, type: 'module' }));
  for (const [name, source] of Object.entries(files)) await writeFile(path.join(dir, name), source);
  await writeFile(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true,
      skipLibCheck: false, types: ['node'], typeRoots: [path.join(consumerDir, 'node_modules', '@types')],
    },
    files: Object.keys(files),
  }));
  // node_modules lookup walks up to consumerDir/node_modules (resilis symlink, @types/node)
  return runNode([findTsc(), '-p', path.join(dir, 'tsconfig.json')], { cwd: dir, timeout: 120000 });
}

test('TypeScript: index.d.ts exists and is referenced by package.json', async () => {
  const pkg = JSON.parse(await (await import('node:fs/promises')).readFile(path.join(repoRoot, 'package.json'), 'utf8'));
  assert.equal(pkg.types, 'index.d.ts');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
  assert.ok(existsSync(path.join(repoRoot, 'index.d.ts')), 'index.d.ts missing at the package root');
});

test('TypeScript: a consumer using the documented API type-checks (strict, nodenext)', { timeout: 180000 }, async (t) => {
  if (!findTsc()) {
    t.skip('typescript is not installed in node_modules; add it as a devDependency to run this check');
    return;
  }
  const res = await typecheck('good', { 'consumer.ts': TS_GOOD });
  assert.equal(res.code, 0, `tsc reported errors:\n${res.stdout}${res.stderr}`);
});

test('TypeScript: wrong uses are rejected (types are not `any`)', { timeout: 300000 }, async (t) => {
  if (!findTsc()) {
    t.skip('typescript is not installed in node_modules; add it as a devDependency to run this check');
    return;
  }
  const names = Object.keys(TS_BAD);
  const files = Object.fromEntries(names.map((label, i) => [`bad${i}.ts`, TS_BAD[label]]));
  const res = await typecheck('bad', files);
  const out = res.stdout + res.stderr;
  // Each file must fail for its own reason, not because 'resilis' has no types or cannot be found.
  assert.doesNotMatch(out, /TS7016|TS2307/, `the package's types did not load:\n${out}`);
  names.forEach((label, i) => {
    assert.match(out, new RegExp(`bad${i}\\.ts\\(\\d+,\\d+\\): error TS\\d+`), `tsc accepted code that must not compile (${label}):\n${out}`);
  });
  assert.doesNotMatch(out, /index\.d\.ts\(\d+,\d+\): error/, `errors inside the declarations:\n${out}`);
});
