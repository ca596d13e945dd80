// The reliable queue on a real server: FIFO, delayed jobs, idempotent job ids, ack / nack,
// visibility timeouts, and at-least-once delivery when a consumer process is killed mid-job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useCache } from './harness/suite.mjs';
import { writeScript, spawnScript } from './harness/node-script.mjs';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const ctx = useCache({ connect: false });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const keys = (q) => ({
  waiting: `queue:{${q}}:waiting`,
  processing: `queue:{${q}}:processing`,
  delayed: `queue:{${q}}:delayed`,
  job: (id) => `queue:{${q}}:job:${id}`,
});

test('enqueue / dequeue: FIFO, the job record is in Redis, dequeue moves it to processing', async () => {
  const q = uniqueKey('q-fifo');
  const k = keys(q);
  const ids = [];
  for (let i = 0; i < 3; i++) ids.push(await ctx.cache.enqueue(q, { n: i }));
  assert.equal(await ctx.redis.cli('lrange', k.waiting, '0', '-1'), ids.join('\n'));
  assert.equal(await ctx.redis.cli('hget', k.job(ids[0]), 'data'), '{"n":0}');
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 3, processing: 0, delayed: 0 });

  const before = Date.now();
  const job = await ctx.cache.dequeue(q, { visibilityTimeoutMs: 10000 });
  assert.equal(job.id, ids[0]);
  assert.deepEqual(job.data, { n: 0 });
  assert.equal(job.attempts, 1);
  assert.ok(Math.abs(job.enqueuedAt - before) < 5000, 'enqueuedAt is a ms timestamp (server clock)');
  assert.equal(await ctx.redis.cli('zscore', k.processing, job.id), String(job.deadline));
  assert.ok(job.deadline - job.enqueuedAt >= 10000);
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 2, processing: 1, delayed: 0 });

  assert.equal(await ctx.cache.ack(q, job.id), true);
  assert.equal(await ctx.redis.cli('exists', k.job(job.id)), '0');
  assert.equal(await ctx.redis.cli('zcard', k.processing), '0');
  assert.equal(await ctx.cache.ack(q, job.id), false);
  assert.deepEqual((await ctx.cache.dequeue(q)).data, { n: 1 });
  assert.deepEqual((await ctx.cache.dequeue(q)).data, { n: 2 });
  assert.equal(await ctx.cache.dequeue(q), null);
});

test('concurrent consumers never get the same job', async () => {
  const q = uniqueKey('q-conc');
  for (let i = 0; i < 100; i++) await ctx.cache.enqueue(q, i);
  const got = await Promise.all(Array.from({ length: 120 }, () => ctx.cache.dequeue(q)));
  const jobs = got.filter(Boolean);
  assert.equal(jobs.length, 100);
  assert.equal(new Set(jobs.map((j) => j.id)).size, 100);
  assert.deepEqual(jobs.map((j) => j.data).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
  assert.equal(await ctx.redis.cli('zcard', keys(q).processing), '100');
});

test('a jobId is enqueued once (idempotent enqueue)', async () => {
  const q = uniqueKey('q-id');
  assert.equal(await ctx.cache.enqueue(q, 'first', { jobId: 'order-42' }), 'order-42');
  assert.equal(await ctx.cache.enqueue(q, 'second', { jobId: 'order-42' }), 'order-42');
  assert.equal(await ctx.redis.cli('llen', keys(q).waiting), '1');
  assert.equal(await ctx.redis.cli('hget', keys(q).job('order-42'), 'data'), '"first"');
});

test('delayed jobs wait in the delayed set and are promoted when due', async () => {
  const q = uniqueKey('q-delay');
  const id = await ctx.cache.enqueue(q, 'later', { delay: 300 });
  assert.ok(Number(await ctx.redis.cli('zscore', keys(q).delayed, id)) > 0);
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 0, processing: 0, delayed: 1 });
  assert.equal(await ctx.cache.dequeue(q), null, 'not due yet');
  await sleep(350);
  const job = await ctx.cache.dequeue(q);
  assert.equal(job.id, id);
  assert.equal(job.data, 'later');
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 0, processing: 1, delayed: 0 });
});

test('nack puts a job back (now, or after a delay); attempts count every delivery', async () => {
  const q = uniqueKey('q-nack');
  const id = await ctx.cache.enqueue(q, { x: 1 });
  const first = await ctx.cache.dequeue(q);
  assert.equal(await ctx.cache.nack(q, id), true);
  assert.equal(await ctx.redis.cli('lrange', keys(q).waiting, '0', '-1'), id);
  const second = await ctx.cache.dequeue(q);
  assert.equal(second.id, first.id);
  assert.equal(second.attempts, 2);
  assert.equal(await ctx.cache.nack(q, id, { delay: 200 }), true);
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 0, processing: 0, delayed: 1 });
  assert.equal(await ctx.cache.nack(q, id), false, 'not in processing any more');
  await sleep(250);
  assert.equal((await ctx.cache.dequeue(q)).attempts, 3);
});

test('requeueStale re-delivers a job whose visibility timeout passed', async () => {
  const q = uniqueKey('q-stale');
  const id = await ctx.cache.enqueue(q, 'work');
  await ctx.cache.dequeue(q, { visibilityTimeoutMs: 100 });
  assert.equal(await ctx.cache.requeueStale(q), 0, 'not stale yet');
  await sleep(150);
  assert.equal(await ctx.cache.requeueStale(q), 1);
  assert.equal(await ctx.redis.cli('lrange', keys(q).waiting, '0', '-1'), id);
  const again = await ctx.cache.dequeue(q);
  assert.equal(again.id, id);
  assert.equal(again.attempts, 2);
});

test('at-least-once: a consumer process killed mid-job, the job is re-delivered and acked by another', { timeout: 60000 }, async () => {
  const q = uniqueKey('q-kill');
  const id = await ctx.cache.enqueue(q, { invoice: 7 });
  const file = await writeScript('queue-consumer', `
    const [queue] = process.argv.slice(2);
    const svc = resilis.createRedisService();
    const cache = resilis.createRedisCacheService({ service: svc });
    const job = await cache.dequeue(queue, { visibilityTimeoutMs: 800 });
    console.log('GOT ' + (job ? job.id : 'none'));
    await sleep(60000); // "working": killed before it acks
  `);
  const child = spawnScript(file, [q], { env: { REDIS_URL: ctx.redis.url } });
  const [, got] = await child.waitFor(/^GOT (\S+)/);
  assert.equal(got, id);
  child.kill('SIGKILL');
  const { signal } = await child.exited;
  assert.equal(signal, 'SIGKILL');
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 0, processing: 1, delayed: 0 }, 'the job is held by the dead consumer');
  assert.equal(await ctx.cache.dequeue(q), null, 'not visible before its deadline');

  await sleep(900);
  assert.equal(await ctx.cache.requeueStale(q), 1);
  const job = await ctx.cache.dequeue(q);
  assert.equal(job.id, id);
  assert.deepEqual(job.data, { invoice: 7 });
  assert.equal(job.attempts, 2);
  assert.equal(await ctx.cache.ack(q, id), true);
  assert.deepEqual(await ctx.cache.queueStats(q), { waiting: 0, processing: 0, delayed: 0 });
  assert.equal(await ctx.redis.cli('exists', keys(q).job(id)), '0');
});

test('a custom queue prefix; bad arguments reject ERR_RESILIS_ARGUMENT', async () => {
  const custom = ctx.resilis.createRedisCacheService({ service: ctx.cache.service, queuePrefix: 'jobs:' });
  const q = uniqueKey('q-prefix');
  await custom.enqueue(q, 1);
  assert.equal(await ctx.redis.cli('llen', `jobs:{${q}}:waiting`), '1');
  for (const [fn, re] of [
    [() => ctx.cache.enqueue('', 1), /queue name must be a non-empty string/],
    [() => ctx.cache.enqueue('q', undefined), /enqueue: data must be JSON-serializable/],
    [() => ctx.cache.enqueue('q', 1, { delay: -1 }), /delay/],
    [() => ctx.cache.dequeue('q', { visibilityTimeoutMs: 0 }), /visibilityTimeoutMs must be a positive number/],
    [() => ctx.cache.ack('q', ''), /ack: id/],
  ]) {
    const err = await captureError(fn);
    assertCode(err, 'ERR_RESILIS_ARGUMENT');
    assert.match(err.message, re);
  }
});
