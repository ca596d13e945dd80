// The cost of tracing (lib/observe.js): resilis GET (concurrency 64) with the observer detached
// from the dispatcher (the call path as it was before tracing existed), with nobody subscribed to
// the tracing channels, and with one subscriber (start/end/asyncStart/asyncEnd/error handlers that
// do nothing) on resilis:command and resilis:batch. Alternating runs (at least 3), median; the cost
// is quoted as CPU ms per 1,000 operations (this process, all threads) over the detached row.
import dc from 'node:diagnostics_channel';
import { createRequire } from 'node:module';
import { startRedis } from './server.mjs';
import { measure, medianCell } from './measure.mjs';

const require = createRequire(import.meta.url);

export const TRACING_WORKLOADS = [{ name: 'tracing' }];

const noop = () => {};
const HANDLERS = { start: noop, end: noop, asyncStart: noop, asyncEnd: noop, error: noop };

export async function measureTracing({ redisBin, seconds, warmupMs, maxCalls, runs = 3 }) {
  const server = await startRedis({ bin: redisBin });
  const { createRedisService } = require('../lib/index.js');
  const svc = createRedisService({ url: server.url });
  const command = dc.tracingChannel('resilis:command');
  const batch = dc.tracingChannel('resilis:batch');
  const cells = { 'observer detached': [], 'no subscriber': [], 'one subscriber': [] };
  const observer = svc._dispatcher.observer;
  try {
    await svc.set('bench:tracing', 'x'.repeat(64));
    const op = () => svc.get('bench:tracing');
    for (let round = 0; round < runs; round++) {
      for (const mode of Object.keys(cells)) {
        const on = mode === 'one subscriber';
        svc._dispatcher.observer = mode === 'observer detached' ? null : observer;
        if (on) {
          command.subscribe(HANDLERS);
          batch.subscribe(HANDLERS);
        }
        const cell = await measure(op, { concurrency: 64, durationMs: seconds * 1000, warmupMs, maxCalls });
        if (on) {
          command.unsubscribe(HANDLERS);
          batch.unsubscribe(HANDLERS);
        }
        cells[mode].push(cell);
        process.stderr.write(`  tracing ${mode} round ${round + 1}: ${Math.round(cell.opsPerSec ?? 0)} ops/s\n`);
      }
    }
  } finally {
    await svc.disconnect();
    await server.stop();
  }
  const rows = Object.entries(cells).map(([mode, r]) => ({ workload: `GET c=64, tracing: ${mode}`, client: 'resilis', cell: medianCell(r) }));
  const [detached, off, on] = rows.map((r) => r.cell);
  const costPer1k = detached.failed || off.failed || on.failed ? null : {
    noSubscriberCpuMs: off.cpuMsPer1kOps - detached.cpuMsPer1kOps,
    oneSubscriberCpuMs: on.cpuMsPer1kOps - detached.cpuMsPer1kOps,
  };
  return { rows, costPer1k };
}
