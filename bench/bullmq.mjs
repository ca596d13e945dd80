// BullMQ jobs/s on resilis beside BullMQ on ioredis: the same server, the same run. Each client
// adds BULLMQ_JOBS jobs (addBulk, in chunks) and one Worker (concurrency 16) processes them; the
// time is from the first add to the last completion. Run in turns, RUNS times, median reported.
import { createRequire } from 'node:module';
import { Queue, Worker } from 'bullmq';
import { startRedis } from './server.mjs';

const require = createRequire(import.meta.url);

export const BULLMQ_JOBS = 5000;

async function connectionFor(client, url) {
  if (client === 'ioredis') {
    const Redis = require('ioredis');
    const make = () => new Redis(url, { maxRetriesPerRequest: null });
    return { producer: make(), worker: make(), close: async (c) => c.quit() };
  }
  const { createRedisService } = require('../lib/index.js');
  const producer = createRedisService({ url });
  return { producer, worker: producer.duplicate(), close: async (c) => c.disconnect() };
}

async function oneRun(client, url, round) {
  const { producer, worker: workerConn, close } = await connectionFor(client, url);
  const name = `bench-${client}-${round}-${process.pid}`;
  const queue = new Queue(name, { connection: producer });
  let done = 0;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });
  const worker = new Worker(name, async () => {
    if (++done === BULLMQ_JOBS) finish();
  }, { connection: workerConn, concurrency: 16 });
  await worker.waitUntilReady();
  const started = process.hrtime.bigint();
  for (let i = 0; i < BULLMQ_JOBS; i += 500) {
    await queue.addBulk(Array.from({ length: Math.min(500, BULLMQ_JOBS - i) }, (_, j) => ({ name: 'j', data: { i: i + j } })));
  }
  await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await worker.close();
  await queue.obliterate({ force: true }).catch(() => {});
  await queue.close();
  await close(producer);
  await close(workerConn);
  return BULLMQ_JOBS / seconds;
}

/** [{ workload, client, cell: { opsPerSec } }] for report.mjs' table. */
export async function measureBullmq({ redisBin, runs = 3 } = {}) {
  const server = await startRedis({ bin: redisBin });
  const rates = { resilis: [], ioredis: [] };
  try {
    for (let round = 0; round < runs; round++) {
      for (const client of Object.keys(rates)) {
        rates[client].push(await oneRun(client, server.url, round));
        process.stderr.write(`  bullmq ${client} round ${round + 1}: ${Math.round(rates[client].at(-1))} jobs/s\n`);
      }
    }
  } finally {
    await server.stop();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return Object.entries(rates).map(([client, xs]) => ({
    workload: `bullmq ${BULLMQ_JOBS} jobs, worker c16 (jobs/s)`,
    client,
    cell: { opsPerSec: median(xs) },
  }));
}
