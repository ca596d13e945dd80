// BullMQ (the real package, current major) on resilis (issue 17): `connection: service` for the
// Queue and QueueEvents, `connection: service.duplicate()` for the Worker (its blocking reads need
// connections of their own). 1,000 jobs processed exactly once, a failing job retried per
// `attempts`, a delayed job run after its delay, completions reported by QueueEvents. Standalone
// and cluster (the queue prefix is a hash tag, as BullMQ requires on a cluster).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { Queue, Worker, QueueEvents } from 'bullmq';
import { onEachDeployment } from './harness/deployments.mjs';
import { remember } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const closers = [];
after(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
});

/** A queue, its events and a worker running `process`, all on `d.svc` (the worker on a duplicate). */
async function setUp(d, process, workerOptions = {}) {
  const name = uniqueKey('bull').replace(/[:]/g, '-');
  const prefix = d.name === 'cluster' ? '{bull}' : 'bull';
  const queue = new Queue(name, { connection: d.svc, prefix });
  const events = new QueueEvents(name, { connection: remember(d.svc.duplicate()), prefix });
  await events.waitUntilReady();
  const worker = new Worker(name, process, { connection: remember(d.svc.duplicate()), prefix, ...workerOptions });
  for (const c of [queue, events, worker]) c.on('error', () => {});
  closers.push(() => worker.close(), () => events.close(), () => queue.close());
  await worker.waitUntilReady();
  return { queue, events, worker };
}

onEachDeployment((d) => {
  test('1,000 jobs are processed exactly once and QueueEvents reports each completion', { timeout: 120000 }, async () => {
    const seen = new Map();
    const { queue, events } = await setUp(d, async (job) => {
      seen.set(job.data.i, (seen.get(job.data.i) || 0) + 1);
      return job.data.i * 2;
    }, { concurrency: 16 });
    const completed = new Set();
    events.on('completed', ({ jobId }) => completed.add(jobId));
    const jobs = await queue.addBulk(Array.from({ length: 1000 }, (_, i) => ({ name: 'n', data: { i } })));
    assert.equal(jobs.length, 1000);
    assert.ok(await eventually(() => seen.size === 1000 && completed.size === 1000, 90000, 100),
      `processed ${seen.size}, completed events ${completed.size}`);
    assert.deepEqual([...seen.values()].filter((n) => n !== 1), [], 'a job ran more than once');
    const counts = await queue.getJobCounts('completed', 'failed', 'waiting', 'active');
    assert.deepEqual(counts, { completed: 1000, failed: 0, waiting: 0, active: 0 });
    const one = await queue.getJob(jobs[7].id);
    assert.equal(one.returnvalue, 14);
  });

  test('a failing job is retried per `attempts`, then fails for good', { timeout: 60000 }, async () => {
    let tries = 0;
    const { queue, events } = await setUp(d, async () => {
      tries++;
      throw new Error(`boom ${tries}`);
    });
    const failed = new Promise((resolve) => events.on('failed', ({ jobId, failedReason }) => resolve({ jobId, failedReason })));
    const job = await queue.add('flaky', {}, { attempts: 3, backoff: { type: 'fixed', delay: 50 } });
    const outcome = await failed;
    assert.equal(outcome.jobId, job.id);
    assert.equal(outcome.failedReason, 'boom 3');
    assert.equal(tries, 3);
    const state = await queue.getJob(job.id);
    assert.equal(state.attemptsMade, 3);
    assert.equal(await state.getState(), 'failed');
  });

  test('a delayed job runs after its delay', { timeout: 60000 }, async () => {
    const ranAt = [];
    const { queue, events } = await setUp(d, async () => { ranAt.push(Date.now()); });
    const done = new Promise((resolve) => events.on('completed', resolve));
    const added = Date.now();
    await queue.add('later', {}, { delay: 1500 });
    await done;
    assert.equal(ranAt.length, 1);
    assert.ok(ranAt[0] - added >= 1400, `ran ${ranAt[0] - added} ms after it was added`);
  });
});
