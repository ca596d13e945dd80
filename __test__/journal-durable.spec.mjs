// The durable outage journal (issue 16, `fallback.journal.path`): outage writes are appended to a
// file before they resolve, so a process killed during an outage loses none of them; a new
// process on the same path replays them once Redis is back, in order, exactly once. The file is
// 0600, locked to one process, and a torn tail is cut at the last good record and counted.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, stat, truncate, rm, copyFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { eventually, uniqueKey } from './harness/util.mjs';
import { writeScript, spawnScript } from './harness/node-script.mjs';

const servers = [];
const dirs = [];
after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const FAST = { commandTimeout: 1000, connectTimeout: 500, reconnect: { minDelay: 5, maxDelay: 50 } };

async function journalPath() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'resilis-journal-'));
  dirs.push(dir);
  return path.join(dir, 'outage.journal');
}

// A child that connects, waits until Redis is gone (the test kills it), then RPUSHes unique ids
// (8 in flight) and SETs one key per id, printing `ack <i>` once both resolved; after `max`
// writes it prints `done` and waits to be killed.
const WRITER = `
const [url, journal, fsync, list, prefix, max, ackFile] = process.argv.slice(2);
// Acknowledgements go to a file with a synchronous write: a pipe to the parent may still hold
// lines in this process (stdout to a busy pipe is written asynchronously) when it is SIGKILLed.
const { openSync, writeSync } = await import('node:fs');
const ackFd = openSync(ackFile, 'a');
const record = (line) => writeSync(ackFd, line + '\\n');
const svc = resilis.createRedisService({
  url, commandTimeout: 1000, connectTimeout: 500, reconnect: { minDelay: 5, maxDelay: 50 },
  fallback: { journal: { path: journal, fsync } },
});
svc.on('error', () => {});
await svc.ping();
console.log('ready');
while (!(await svc.getStats()).degraded) {
  await svc.get('poke').catch(() => {});
  await sleep(20);
}
console.log('degraded');
let next = 0;
async function worker() {
  while (next < Number(max)) {
    const i = next++;
    try {
      await Promise.all([svc.rpush(list, 'id:' + i), svc.set(prefix + i, 'v' + i)]);
      record('ack ' + i);
    } catch (e) {
      record('err ' + i + ' ' + e.code);
    }
  }
}
await Promise.all(Array.from({ length: 8 }, worker));
console.log('done');
setInterval(() => {}, 1000);
`;

async function startWriter(redis, journal, { fsync = 'everysec', max = 1e9 } = {}) {
  const list = uniqueKey('durable-list');
  const prefix = `${uniqueKey('durable-key')}:`;
  const file = await writeScript('journal-writer', WRITER);
  const ackFile = `${journal}.acks`;
  const child = spawnScript(file, [redis.url, journal, fsync, list, prefix, String(max), ackFile]);
  child.ackFile = ackFile;
  await child.waitFor(/^ready$/);
  return { child, list, prefix };
}

/** The writer's acknowledgement lines (`ack <i>`, `err <i> <code>`), as written before now. */
function records(child) {
  try {
    return readFileSync(child.ackFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

const acked = (child) => records(child).map((l) => /^ack (\d+)$/.exec(l)).filter(Boolean).map((m) => Number(m[1]));

async function replayed(svc) {
  return eventually(async () => {
    const s = await svc.getStats();
    return !s.degraded && s.replay.pending === 0 ? s : null;
  }, 20000, 50);
}

test('a process SIGKILLed during an outage loses no acknowledged write: a new process on the same journal path replays them in order, exactly once', { timeout: 90000 }, async (t) => {
  const redis = await startRedis();
  servers.push(redis);
  const journal = await journalPath();
  const { child, list, prefix } = await startWriter(redis, journal);
  await redis.kill('SIGKILL');
  await child.waitFor(/^degraded$/);
  await eventually(() => acked(child).length >= 1500, 30000, 20);

  // While the writer lives, its journal is its own: a second opener is refused.
  assert.throws(() => openService(redis, { fallback: { journal: { path: journal } } }), (err) => {
    assert.equal(err.code, 'ERR_RESILIS_JOURNAL_LOCKED', err.message);
    assert.match(err.message, /in use by another process/);
    return true;
  });
  assert.equal((await stat(journal)).mode & 0o777, 0o600, 'the journal is not private to its owner');

  child.kill('SIGKILL');
  await child.exited;
  const ack = acked(child);
  const errs = records(child).filter((l) => l.startsWith('err '));
  assert.equal(errs.length, 0, errs.slice(0, 3).join('; '));
  t.diagnostic(`${ack.length} writes acknowledged before SIGKILL; journal ${(await stat(journal)).size} bytes`);

  await redis.restart();
  const svc = openService(redis, { ...FAST, fallback: { journal: { path: journal } } });
  svc.on('error', () => {});
  const stats = await replayed(svc);
  assert.ok(stats, 'the new process did not replay the journal');
  t.diagnostic(`replay: ${JSON.stringify(stats.replay)}`);
  assert.ok(stats.replay.restored >= ack.length, JSON.stringify(stats.replay));
  assert.equal(stats.replay.cutBytes, 0, 'a SIGKILL between writes left a torn record');
  assert.equal(stats.replay.dropped, 0);

  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean).map((v) => Number(v.slice(3)));
  assert.equal(new Set(stored).size, stored.length, 'an id was stored twice');
  const missing = ack.filter((i) => !stored.includes(i));
  assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged ids are not in Redis`);
  // Ids are taken and pushed in one step, so journal order is id order: replayed in order, they are sorted.
  assert.deepEqual(stored, [...stored].sort((a, b) => a - b), 'replayed out of order');
  assert.ok(stored.length >= ack.length && stored.length <= ack.length + 8, `${stored.length} stored for ${ack.length} acknowledged`);
  for (const i of ack.slice(0, 200)) assert.equal(await redis.cli('get', prefix + i), `v${i}`);
  // Confirmed and drained: the file shrank to its header.
  assert.ok(await eventually(async () => (await stat(journal)).size < 64, 5000, 50), `journal still ${(await stat(journal)).size} bytes`);
  // A third process on the path replays nothing again.
  await svc.disconnect();
});

test("fsync 'always': writes acknowledged before a SIGKILL are replayed by the next process", { timeout: 60000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  const journal = await journalPath();
  const { child, list } = await startWriter(redis, journal, { fsync: 'always', max: 300 });
  await redis.kill('SIGKILL');
  await child.waitFor(/^done$/, 30000);
  child.kill('SIGKILL');
  await child.exited;
  const ack = acked(child);
  assert.equal(ack.length, 300);
  await redis.restart();
  const svc = openService(redis, { ...FAST, fallback: { journal: { path: journal, fsync: 'always' } } });
  svc.on('error', () => {});
  assert.ok(await replayed(svc), 'no replay');
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean).map((v) => Number(v.slice(3)));
  assert.deepEqual([...stored].sort((a, b) => a - b), ack.sort((a, b) => a - b));
});

test('a torn tail: the file cut mid-record; the next process replays the good records and counts the cut', { timeout: 60000 }, async () => {
  const redis = await startRedis();
  servers.push(redis);
  const journal = await journalPath();
  const { child, list } = await startWriter(redis, journal, { max: 50 });
  await redis.kill('SIGKILL');
  await child.waitFor(/^done$/, 30000);
  child.kill('SIGKILL');
  await child.exited;
  assert.equal(acked(child).length, 50);
  // Each id wrote two records (RPUSH, SET); the last one loses its last 5 bytes.
  const { size } = await stat(journal);
  await truncate(journal, size - 5);
  await redis.restart();
  const svc = openService(redis, { ...FAST, fallback: { journal: { path: journal } } });
  svc.on('error', () => {});
  const stats = await replayed(svc);
  assert.ok(stats, 'no replay');
  assert.ok(stats.replay.cutBytes > 0, JSON.stringify(stats.replay));
  assert.equal(stats.replay.restored, 99, JSON.stringify(stats.replay));
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean);
  // The cut record is the last RPUSH or the last SET.
  assert.ok(stored.length === 50 || stored.length === 49, `${stored.length} ids stored`);
  assert.equal(new Set(stored).size, stored.length);
});

// Opens a service on the journal and waits (the replay starts by itself).
const REPLAYER = `
const [url, journal] = process.argv.slice(2);
const svc = resilis.createRedisService({ url, reconnect: { minDelay: 5, maxDelay: 50 }, fallback: { journal: { path: journal } } });
svc.on('error', () => {});
console.log('open');
setInterval(() => {}, 1000);
`;

test('a replaying process SIGKILLed mid-replay, its confirmations lost too: the next process replays the whole file and no write runs twice (the markers are named after the journal)', { timeout: 120000 }, async (t) => {
  const { connectResp } = await import('./harness/resp.mjs');
  const redis = await startRedis();
  servers.push(redis);
  const journal = await journalPath();
  const { child, list } = await startWriter(redis, journal, { max: 6000 });
  await redis.kill('SIGKILL');
  await child.waitFor(/^done$/, 60000);
  child.kill('SIGKILL');
  await child.exited;
  const ack = acked(child);
  assert.equal(ack.length, 6000);
  await redis.restart();

  // The file as the writer left it: put back after the replayer dies, as if none of its
  // confirmations had reached the disk; only Redis' markers then tell what already ran.
  await copyFile(journal, `${journal}.before`);
  const raw = await connectResp(redis.port);
  const replayer = spawnScript(await writeScript('journal-replayer', REPLAYER), [redis.url, journal]);
  await replayer.waitFor(/^open$/);
  let seen = 0;
  const deadline = Date.now() + 20000;
  while (seen === 0 && Date.now() < deadline) seen = Number(await raw.command('LLEN', list));
  // Redis holds the replayer's further writes (scripts included) while it is killed, so the replay cannot
  // finish in between (on a fast machine it did, once).
  await raw.command('CLIENT', 'PAUSE', '30000', 'WRITE');
  replayer.kill('SIGKILL');
  await replayer.exited;
  await raw.command('CLIENT', 'UNPAUSE');
  const cutAt = Number(await raw.command('LLEN', list));
  raw.close();
  t.diagnostic(`replayer killed with ${cutAt} of 6000 ids replayed`);
  // Not vacuous: the first replayer was cut off part way.
  assert.ok(cutAt > 0 && cutAt < 6000, `${cutAt} ids replayed when the replayer was killed`);
  await copyFile(`${journal}.before`, journal);

  const svc = openService(redis, { ...FAST, fallback: { journal: { path: journal } } });
  svc.on('error', () => {});
  const stats = await replayed(svc);
  assert.ok(stats, 'no replay by the next process');
  t.diagnostic(`second replay: ${JSON.stringify(stats.replay)}`);
  assert.equal(stats.replay.restored, 12000, 'the whole file was restored');
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean).map((v) => Number(v.slice(3)));
  assert.equal(stored.length, 6000, `${stored.length} ids stored for 6000 acknowledged`);
  assert.deepEqual(stored, Array.from({ length: 6000 }, (_, i) => i));
});
