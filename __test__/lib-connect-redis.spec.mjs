// connect-redis (10, the current major, and 9) with express-session over real HTTP, on
// getClient() (node-redis v5's surface: set with { expiration }, expire, del([...]), mGet,
// scanIterator), against a real standalone server and a real cluster.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { onEachDeployment } from './harness/deployments.mjs';
import { serve, closeAll, cookieClient } from './harness/http.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const express = require('express');
const session = require('express-session');

const LIBRARIES = [
  { name: 'connect-redis 10', module: 'connect-redis' },
  { name: 'connect-redis 9', module: 'connect-redis9' },
];

/** The session id inside express-session's signed cookie `s:<id>.<signature>`. */
function sessionId(client) {
  const raw = decodeURIComponent(client.jar.get('connect.sid') || '');
  assert.ok(raw.startsWith('s:'), `a signed session cookie, got ${raw}`);
  return raw.slice(2, raw.indexOf('.'));
}

/** An app with login / me / logout on a RedisStore over `redisClient`; resolves { base, store, prefix }. */
async function sessionApp(RedisStore, redisClient, maxAge) {
  const prefix = `${uniqueKey('sess')}:`;
  const store = new RedisStore({ client: redisClient, prefix });
  const app = express();
  app.use(session({ store, secret: 'test-secret', resave: false, saveUninitialized: false, cookie: { maxAge } }));
  app.post('/login', (req, res) => {
    req.session.user = req.query.user || 'ada';
    res.json({ ok: true });
  });
  app.get('/me', (req, res) => (req.session.user ? res.json({ user: req.session.user }) : res.status(401).json({})));
  app.post('/logout', (req, res) => req.session.destroy((err) => (err ? res.status(500).end() : res.json({ ok: true }))));
  return { base: await serve(app), store, prefix };
}

async function login(base, user) {
  const client = cookieClient(base);
  const res = await client.fetch(`/login?user=${user}`, { method: 'POST' });
  assert.equal(res.status, 200);
  return client;
}

/** The scenarios, for one library on one deployment (harness/deployments.mjs). */
function sessionScenarios(library, ctx) {
  let RedisStore;
  before(async () => {
    ({ RedisStore } = await import(library.module));
  });

  test('login stores the session with a TTL from maxAge; read; logout deletes it', async () => {
    const { base, prefix } = await sessionApp(RedisStore, ctx.svc.getClient(), 60_000);
    const client = await login(base, 'ada');
    const key = prefix + sessionId(client);
    const ttl = Number(await ctx.cli(key, 'ttl', key));
    assert.ok(ttl > 50 && ttl <= 60, `TTL ${key} should be about 60 s, got ${ttl}`);
    assert.equal(JSON.parse(await ctx.cli(key, 'get', key)).user, 'ada');
    assert.deepEqual(await (await client.fetch('/me')).json(), { user: 'ada' });
    assert.equal((await client.fetch('/logout', { method: 'POST' })).status, 200);
    assert.equal(await ctx.cli(key, 'exists', key), '0');
    assert.equal((await client.fetch('/me')).status, 401);
  });

  test('touch on a read extends the TTL', async () => {
    const { base, prefix } = await sessionApp(RedisStore, ctx.svc.getClient(), 60_000);
    const client = await login(base, 'grace');
    const key = prefix + sessionId(client);
    await ctx.cli(key, 'expire', key, '5');
    assert.ok(Number(await ctx.cli(key, 'ttl', key)) <= 5);
    assert.equal((await client.fetch('/me')).status, 200);
    const ttl = Number(await ctx.cli(key, 'ttl', key));
    assert.ok(ttl > 50, `touch should set the TTL back to about 60 s, got ${ttl}`);
  });

  test('the session is gone after maxAge', async () => {
    const { base, prefix } = await sessionApp(RedisStore, ctx.svc.getClient(), 1500);
    const client = await login(base, 'linus');
    const key = prefix + sessionId(client);
    const ttl = Number(await ctx.cli(key, 'ttl', key));
    assert.ok(ttl > 0 && ttl <= 2, `TTL ${key} should be 1 or 2 s, got ${ttl}`);
    await eventually(async () => (await ctx.cli(key, 'exists', key)) === '0', 5000);
    // The browser would have dropped the cookie; the server must not find the session either way.
    await sleep(10);
    assert.equal((await client.fetch('/me')).status, 401);
  });

  test('all(), length(), ids() and clear() see every session (SCAN over every master)', async () => {
    const { base, store, prefix } = await sessionApp(RedisStore, ctx.svc.getClient(), 60_000);
    const users = ['u1', 'u2', 'u3', 'u4', 'u5'];
    const ids = [];
    for (const u of users) ids.push(sessionId(await login(base, u)));
    assert.equal(await store.length(), users.length);
    assert.deepEqual((await store.ids()).sort(), [...ids].sort());
    const all = await store.all();
    assert.deepEqual(all.map((s) => [s.id, s.user]).sort(), ids.map((id, i) => [id, users[i]]).sort());
    await store.clear();
    assert.equal(await store.length(), 0);
    for (const id of ids) assert.equal(await ctx.cli(prefix + id, 'exists', prefix + id), '0');
  });
}

after(closeAll);

onEachDeployment((d) => {
  for (const library of LIBRARIES) describe(library.name, () => sessionScenarios(library, d));
});
