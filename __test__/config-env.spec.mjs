// Configuration from the environment, each case in a fresh child process (the singleton reads
// the environment once): good variables reach the server; malformed ones give ERR_RESILIS_CONFIG
// naming the variable, and never print a password.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startRedis } from './harness/redis.mjs';
import { freePort } from './harness/ports.mjs';
import { repoRoot } from './harness/package.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { uniqueKey } from './harness/util.mjs';

let redis;
const entry = path.join(repoRoot, 'lib', 'index.js');

before(async () => {
  redis = await startRedis();
});

after(async () => {
  await redis?.stop();
});

// Child: getRedisService(options) then connect(); prints the error (if any) as JSON.
const CONNECT_CHILD = `
const r = require(process.argv[1]);
const options = JSON.parse(process.argv[2] || '{}');
(async () => {
  let phase = 'create';
  let svc;
  try {
    svc = r.getRedisService(options);
    phase = 'connect';
    await Promise.race([svc.connect(), new Promise((_, j) => setTimeout(() => j(new Error('connect did not settle')), 15000))]);
    phase = 'done';
    console.log(JSON.stringify({ phase, code: null }));
  } catch (e) {
    console.log(JSON.stringify({ phase, code: e && e.code, name: e && e.name, message: String(e && e.message), stack: String(e && e.stack) }));
  }
  try { if (svc) await svc.disconnect(); } catch {}
  process.exit(0);
})();
`;

async function configErrorFor(env, options = {}) {
  const res = await runNode(['-e', CONNECT_CHILD, entry, JSON.stringify(options)], { env });
  assert.equal(res.code, 0, `child failed: ${res.stderr}`);
  return { ...lastJson(res.stdout), stderr: res.stderr, stdout: res.stdout };
}

const malformed = [
  ['REDIS_URL', { REDIS_URL: 'not a url at all' }],
  ['REDIS_URL', { REDIS_URL: 'ftp://127.0.0.1:6379' }],
  ['REDIS_PORT', { REDIS_HOST: '127.0.0.1', REDIS_PORT: 'abc' }],
  ['REDIS_PORT', { REDIS_HOST: '127.0.0.1', REDIS_PORT: '70000' }],
  ['REDIS_POOL_SIZE', { REDIS_POOL_SIZE: '-1' }],
  ['REDIS_POOL_SIZE', { REDIS_POOL_SIZE: 'lots' }],
  ['REDIS_DB', { REDIS_DB: 'first' }],
  ['REDIS_CONNECT_TIMEOUT', { REDIS_CONNECT_TIMEOUT: 'soon' }],
  ['REDIS_COMMAND_TIMEOUT', { REDIS_COMMAND_TIMEOUT: '-3' }],
  ['REDIS_MAX_RETRIES', { REDIS_MAX_RETRIES: 'many' }],
];

for (const [variable, env] of malformed) {
  test(`${variable}=${JSON.stringify(Object.values(env).at(-1))} -> ERR_RESILIS_CONFIG naming ${variable}`, async () => {
    // A reachable server, so the malformed variable is the only thing wrong.
    const full = { REDIS_URL: redis.url, ...env };
    if (env.REDIS_HOST) delete full.REDIS_URL;
    const out = await configErrorFor(full);
    assert.equal(out.code, 'ERR_RESILIS_CONFIG', `got ${JSON.stringify(out)}`);
    assert.ok(out.message.includes(variable), `message should name ${variable}: ${out.message}`);
  });
}

test('a password in a malformed REDIS_URL never appears in the error', async () => {
  const secret = 'Sup3rS3cret-env-pw';
  const out = await configErrorFor({ REDIS_URL: `redis://admin:${secret}@127.0.0.1:abc/0` });
  assert.equal(out.code, 'ERR_RESILIS_CONFIG', `got ${JSON.stringify(out)}`);
  assert.ok(out.message.includes('REDIS_URL'), out.message);
  assert.ok(!out.message.includes(secret), `message leaks the password: ${out.message}`);
  assert.ok(!out.stack.includes(secret), 'stack leaks the password');
  assert.ok(!out.stderr.includes(secret), 'stderr leaks the password');
});

test('REDIS_PASSWORD is not echoed when another variable is malformed', async () => {
  const secret = 'An0ther-S3cret-pw';
  const out = await configErrorFor({ REDIS_HOST: '127.0.0.1', REDIS_PORT: 'abc', REDIS_PASSWORD: secret });
  assert.equal(out.code, 'ERR_RESILIS_CONFIG');
  assert.ok(!out.message.includes(secret) && !out.stack.includes(secret), out.message);
});

// Child: write one key through the env-configured singleton and print what it saw.
const WRITE_CHILD = `
const r = require(process.argv[1]);
const [key, value, optionsJson] = process.argv.slice(2);
(async () => {
  const svc = r.getRedisService(JSON.parse(optionsJson || '{}'));
  try {
    const reply = await svc.set(key, value);
    console.log(JSON.stringify({ reply, read: await svc.get(key) }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.code, message: e.message }));
  }
  await svc.disconnect();
})();
`;

test('REDIS_HOST + REDIS_PORT + REDIS_DB + REDIS_CONNECTION_NAME are applied', async () => {
  const key = uniqueKey('env-hostport');
  const res = await runNode(['-e', WRITE_CHILD, entry, key, 'from-env', '{}'], {
    env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port), REDIS_DB: '4', REDIS_CONNECTION_NAME: 'resilis-env-test' },
  });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(lastJson(res.stdout), { reply: 'OK', read: 'from-env' });
  assert.equal(await redis.cli('-n', '4', 'get', key), 'from-env');
  assert.equal(await redis.cli('-n', '0', 'exists', key), '0');
});

test('REDIS_URL is applied (database from the URL path)', async () => {
  const key = uniqueKey('env-url');
  const res = await runNode(['-e', WRITE_CHILD, entry, key, 'via-url', '{}'], { env: { REDIS_URL: `${redis.url}/6` } });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(lastJson(res.stdout), { reply: 'OK', read: 'via-url' });
  assert.equal(await redis.cli('-n', '6', 'get', key), 'via-url');
});

test('options passed in code override the environment', async () => {
  const key = uniqueKey('env-override');
  const deadPort = await freePort();
  const res = await runNode(['-e', WRITE_CHILD, entry, key, 'override', JSON.stringify({ port: redis.port, db: 2 })], {
    env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(deadPort), REDIS_DB: '9', REDIS_CONNECT_TIMEOUT: '500' },
  });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(lastJson(res.stdout), { reply: 'OK', read: 'override' });
  assert.equal(await redis.cli('-n', '2', 'get', key), 'override');
});

test('the child process exits on its own after disconnect()', async () => {
  const key = uniqueKey('env-exit');
  const res = await runNode(['-e', WRITE_CHILD, entry, key, 'bye', '{}'], { env: { REDIS_URL: redis.url }, timeout: 30000 });
  assert.equal(res.killed, false, 'child had to be killed: something keeps the event loop alive after disconnect()');
  assert.equal(res.code, 0, res.stderr);
  assert.equal(await redis.cli('get', key), 'bye');
});
