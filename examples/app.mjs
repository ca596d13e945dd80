// resilis example app: a tiny chat-room API over getRedisService(), as an application uses it.
//   npm start                      serve on PORT (default 3000) and run a one-shot self-demo
//   DEMO_EXIT=1 npm start          (or: node examples/app.mjs --once) exit after the demo
// Configuration comes from the environment (REDIS_URL, REDIS_HOST, REDIS_PORT, ... see README).
// With no Redis reachable, resilis serves the same API from its in-memory fallback.
import express from 'express';
import { randomUUID } from 'node:crypto';

const ONCE = process.env.DEMO_EXIT === '1' || process.argv.includes('--once');
const PORT = Number(process.env.PORT ?? 3000);
const UNREACHABLE = new Set(['ERR_RESILIS_CONNECTION', 'ERR_RESILIS_TIMEOUT', 'ERR_RESILIS_CLOSED']);

let redis;
try {
  const resilis = await import('../lib/index.js');
  redis = (resilis.getRedisService ?? resilis.default.getRedisService)();
} catch (err) {
  const down = UNREACHABLE.has(err.code);
  console.error(down ? `Redis is unreachable: ${err.message}` : `Cannot start resilis: ${err.message}\n`
    + '(is the addon built? run: npm run build; is the configuration valid?)');
  process.exit(down ? 0 : 1);
}
redis.on?.('error', (err) => console.warn(`[redis] ${err.code ?? 'error'}: ${err.message}`));
redis.on?.('fallback', () => console.warn('[redis] unreachable: serving from the in-memory fallback'));
process.on('unhandledRejection', (err) => console.error('[unhandled]', err?.code ?? '', err?.message ?? err));

const app = express();
app.use(express.json());
// Every handler's errors become a JSON 503 instead of crashing the process.
const route = (fn) => (req, res) =>
  Promise.resolve(fn(req, res)).catch((err) =>
    res.status(503).json({ error: err.message, code: err.code ?? null }));

// 1. String cache with a TTL (cache-aside).
app.get('/api/greeting', route(async (req, res) => {
  const cached = await redis.get('demo:greeting');
  if (cached !== null) return res.json({ value: cached, cached: true });
  const value = `Hello, computed at ${new Date().toISOString()}`; // pretend this was expensive
  await redis.set('demo:greeting', value, 30); // 30 s TTL
  res.json({ value, cached: false, ttl: await redis.ttl('demo:greeting') });
}));

// 2. Sessions: set/get with { EX }.
app.post('/api/session', route(async (req, res) => {
  const id = randomUUID();
  const data = { user: req.body?.user ?? 'anonymous', createdAt: Date.now() };
  await redis.set(`session:${id}`, JSON.stringify(data), { EX: 1800 });
  res.status(201).json({ id, ...data });
}));
app.get('/api/session/:id', route(async (req, res) => {
  const raw = await redis.get(`session:${req.params.id}`);
  if (raw === null) return res.status(404).json({ error: 'no such session' });
  res.json(JSON.parse(raw));
}));

// 3. A hash of the users in a room: hSet / hGetAll.
app.put('/api/rooms/:room/users/:user', route(async (req, res) => {
  const added = await redis.hSet(`room:${req.params.room}:users`, req.params.user,
    JSON.stringify({ joinedAt: Date.now(), ...req.body }));
  res.json({ added });
}));
app.get('/api/rooms/:room/users', route(async (req, res) => {
  const users = await redis.hGetAll(`room:${req.params.room}:users`);
  res.json(Object.fromEntries(Object.entries(users ?? {}).map(([k, v]) => [k, JSON.parse(v)])));
}));

// 4. A counter: incr.
app.post('/api/visits', route(async (req, res) => {
  res.json({ visits: await redis.incr('demo:visits') });
}));

// 5. Recent messages: the node-redis style client, lPush + lTrim keeps the last 100.
app.post('/api/rooms/:room/messages', route(async (req, res) => {
  const client = redis.getClient();
  const key = `room:${req.params.room}:messages`;
  const message = { user: req.body?.user ?? 'anonymous', text: String(req.body?.text ?? ''), at: Date.now() };
  await client.lPush(key, JSON.stringify(message));
  await client.lTrim(key, 0, 99);
  res.status(201).json(message);
}));
app.get('/api/rooms/:room/messages', route(async (req, res) => {
  const list = await redis.getClient().lRange(`room:${req.params.room}:messages`, 0, 19);
  res.json(list.map((m) => JSON.parse(m)));
}));

// 6. Health: 200 when Redis answers, 503 otherwise (the body says why).
app.get('/health', route(async (req, res) => {
  const health = await redis.healthCheck();
  res.status(health.healthy ? 200 : 503).json(health);
}));

async function demo(base) {
  let failures = 0;
  const call = async (method, path, body) => {
    let res, text;
    try {
      res = await fetch(base + path, {
        method, headers: { 'content-type': 'application/json' },
        body: body && JSON.stringify(body), signal: AbortSignal.timeout(20_000),
      });
      text = await res.text();
    } catch (err) {
      console.log(`  ${method.padEnd(4)} ${path} -> failed: ${err.message}`);
      throw Object.assign(err, { unreachable: true });
    }
    console.log(`  ${method.padEnd(4)} ${path} -> ${res.status} ${text}`);
    let json = {};
    try { json = JSON.parse(text); } catch { /* not JSON */ }
    if (res.status >= 500 && path !== '/health') {
      failures++;
      if (UNREACHABLE.has(json.code)) throw Object.assign(new Error(json.error), { unreachable: true });
    }
    return res.ok ? json : null;
  };
  console.log('\nSelf-demo:');
  try {
    await call('GET', '/api/greeting');
    await call('GET', '/api/greeting'); // second time: from the cache
    const session = await call('POST', '/api/session', { user: 'alice' });
    if (session) await call('GET', `/api/session/${session.id}`);
    await call('PUT', '/api/rooms/lobby/users/alice', { name: 'Alice' });
    await call('PUT', '/api/rooms/lobby/users/bob', { name: 'Bob' });
    await call('GET', '/api/rooms/lobby/users');
    await call('POST', '/api/visits');
    await call('POST', '/api/visits');
    await call('POST', '/api/rooms/lobby/messages', { user: 'alice', text: 'hi bob' });
    await call('POST', '/api/rooms/lobby/messages', { user: 'bob', text: 'hello alice' });
    await call('GET', '/api/rooms/lobby/messages');
  } catch (err) {
    if (!err.unreachable) throw err;
    console.log('  (Redis unreachable: skipping the rest of the demo)');
    failures++;
  }
  const health = await call('GET', '/health').catch(() => null);
  return { failures, healthy: Boolean(health?.healthy) };
}

async function shutdown(server, code = 0) {
  server.close();
  await Promise.race([redis.disconnect?.(), new Promise((r) => setTimeout(r, 2000))]).catch(() => {});
  process.exit(code);
}

const listen = (port) => new Promise((resolve, reject) => {
  const server = app.listen(port, () => resolve(server)).once('error', reject);
});
let server;
try {
  server = await listen(PORT);
} catch (err) {
  if (err.code !== 'EADDRINUSE') throw err;
  if (!ONCE) { console.error(`Port ${PORT} is in use: set PORT to another port.`); process.exit(1); }
  console.warn(`Port ${PORT} is in use; the demo uses a free port instead.`);
  server = await listen(0);
}
const port = server.address().port;
console.log(`resilis example listening on http://localhost:${port} (try /health, /api/greeting)`);

const { failures, healthy } = await demo(`http://127.0.0.1:${port}`);
const where = (() => { // never print a password from REDIS_URL
  try { const u = new URL(process.env.REDIS_URL); if (u.password) u.password = '***'; return u.href; } catch {}
  return `${process.env.REDIS_HOST ?? 'localhost'}:${process.env.REDIS_PORT ?? 6379}`;
})();
if (failures > 0 && !healthy) {
  console.log(`\nRedis is unreachable at ${where}, and the calls above failed (see their errors).`);
  console.log('Start a Redis server or set REDIS_URL / REDIS_HOST / REDIS_PORT. Exiting.');
  await shutdown(server, 0);
}
console.log(healthy ? `\nDemo done: Redis at ${where} is healthy${failures ? `; ${failures} call(s) failed` : ''}.`
  : `\nDemo done: Redis at ${where} is unreachable; resilis served the calls above from memory.`);
if (ONCE) await shutdown(server, 0);
console.log(`Still serving on http://localhost:${port} (Ctrl+C to stop).`);
process.on('SIGINT', () => shutdown(server, 0));
process.on('SIGTERM', () => shutdown(server, 0));
