// AUTH, ACL users and the database index (issue 5), chosen through the environment: seed 001's
// REDIS_HOST/PORT/PASSWORD/DB, REDIS_USERNAME (config.rs), and redis://user:password@host:port/db URLs.
// A wrong or missing password is a clear configuration error that never shows the secret.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { createAclUser } from './harness/acl.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { runService } from './harness/child.mjs';
import { expectConnectError } from './harness/connect-error.mjs';
import { uniqueKey } from './harness/util.mjs';

const PASSWORD = 'Default-Us3r-Pw-auth-spec';
const APP = { user: 'app', password: 'App-Us3r-S3cret-auth-spec' };
let redis;

before(async () => {
  redis = await startRedis({ password: PASSWORD });
  await createAclUser(redis, APP);
});

after(async () => {
  await closeServices();
  await redis?.stop();
});

const hostPort = () => ({ REDIS_HOST: '127.0.0.1', REDIS_PORT: String(redis.port) });

test('seed 001: REDIS_HOST + REDIS_PORT + REDIS_PASSWORD + REDIS_DB=0 authenticate the default user', async () => {
  const key = uniqueKey('auth-seed');
  const res = await runService({ ...hostPort(), REDIS_PASSWORD: PASSWORD, REDIS_DB: '0' }, `
    await svc.set(${JSON.stringify(key)}, 'authed');
    return { who: await svc.call('ACL', 'WHOAMI'), read: await svc.get(${JSON.stringify(key)}) };
  `);
  assert.equal(res.error, undefined, `child failed: ${JSON.stringify(res.error)}`);
  assert.deepEqual(res.value, { who: 'default', read: 'authed' });
  assert.equal(await redis.cli('get', key), 'authed');
});

test('an ACL user: REDIS_USERNAME + REDIS_PASSWORD', async () => {
  const svc = openServiceFromEnv({ ...hostPort(), REDIS_ENABLED: 'true', REDIS_USERNAME: APP.user, REDIS_PASSWORD: APP.password });
  assert.equal(await svc.call('ACL', 'WHOAMI'), APP.user);
  const key = uniqueKey('acl-env');
  assert.equal(await svc.set(key, 'as-app'), 'OK');
  assert.equal(await redis.cli('get', key), 'as-app');
});

test('an ACL user and a database from the URL: redis://user:password@host:port/3', async () => {
  const svc = openServiceFromEnv({ REDIS_ENABLED: 'true', REDIS_URL: `redis://${APP.user}:${APP.password}@127.0.0.1:${redis.port}/3` });
  assert.equal(await svc.call('ACL', 'WHOAMI'), APP.user);
  const key = uniqueKey('acl-url');
  assert.equal(await svc.set(key, 'in-db-3'), 'OK');
  assert.equal(await redis.cli('-n', '3', 'get', key), 'in-db-3');
  assert.equal(await redis.cli('-n', '0', 'exists', key), '0');
});

test('REDIS_DB selects the database (with REDIS_PASSWORD)', async () => {
  const svc = openServiceFromEnv({ ...hostPort(), REDIS_ENABLED: 'true', REDIS_PASSWORD: PASSWORD, REDIS_DB: '5' });
  const key = uniqueKey('db5');
  assert.equal(await svc.set(key, 'five'), 'OK');
  assert.equal(await redis.cli('-n', '5', 'get', key), 'five');
  assert.equal(await redis.cli('-n', '0', 'exists', key), '0');
});

const badAuth = [
  ['a wrong REDIS_PASSWORD', { REDIS_PASSWORD: 'Wr0ng-Pw-not-this-one' }, 'Wr0ng-Pw-not-this-one'],
  ['a wrong password for an ACL user (REDIS_USERNAME)', { REDIS_USERNAME: APP.user, REDIS_PASSWORD: 'Wr0ng-App-Pw-xyz' }, 'Wr0ng-App-Pw-xyz'],
  ['a wrong password in REDIS_URL', 'url', 'Wr0ng-Url-Pw-abc'],
  ['no password for a server that requires one', {}, null],
];

for (const [label, vars, secret] of badAuth) {
  test(`${label} is a clear configuration error that does not show the password`, async () => {
    const env = vars === 'url'
      ? { REDIS_URL: `redis://${APP.user}:${secret}@127.0.0.1:${redis.port}` }
      : { ...hostPort(), ...vars };
    const err = await expectConnectError(env, { secrets: [secret, PASSWORD, APP.password].filter(Boolean) });
    assert.equal(err.code, 'ERR_RESILIS_CONFIG', `${err.code}: ${err.message}`);
    assert.match(err.message, /auth|password|WRONGPASS|NOAUTH/i);
  });
}
