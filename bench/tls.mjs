// TLS rows: GET and SET of 100 B at 16 and 256 in flight for every client, against a redis-server listening on a
// TLS port only (TLS 1.3, a throwaway CA and server certificate made by the test harness; no client certificate
// asked), plus the same server's ceiling from `redis-benchmark --tls`. Printed as its own table.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeCertificates, startTlsRedis } from '../__test__/harness/tls.mjs';
import { CLIENTS, CLIENT_ROWS, CLIENT_LABELS, BASELINE } from './clients.mjs';
import { measure, medianCell } from './measure.mjs';
import { measureCeiling } from './ceiling.mjs';

const KEYS = Array.from({ length: 1000 }, (_, i) => `bench:tls:${i}`);
const VALUE = 't'.repeat(100);

const row = (test, inFlight) => ({
  name: `tls ${test} 100B c${inFlight}`,
  test,
  concurrency: inFlight,
  op: test === 'get' ? (c, i) => c.get(KEYS[i % KEYS.length]) : (c, i) => c.set(KEYS[i % KEYS.length], VALUE),
});

export const TLS_WORKLOADS = [row('get', 16), row('get', 256), row('set', 16), row('set', 256)];

/**
 * Runs `rows` (TLS_WORKLOADS entries) for `clientNames`, `runs` times in rotating client order, and the
 * TLS ceiling of each row. Returns { rows: [{ workload, client, cell }], baselineOps, ceiling }.
 */
export async function measureTls({ rows, clientNames, runs, seconds, warmupMs, maxCalls, redisBin }) {
  const certs = await makeCertificates();
  const server = await startTlsRedis({ certs, authClients: 'no' });
  const tls = { ca: await readFile(certs.files.ca, 'utf8'), caFile: certs.files.ca };
  const opened = new Map();
  const results = new Map(rows.map((w) => [w.name, new Map()]));
  try {
    for (const name of clientNames) {
      try {
        const adapter = await CLIENTS[name]({ host: '127.0.0.1', port: server.port, url: server.url, tls });
        await adapter.connect();
        for (let i = 0; i < KEYS.length; i += 64) await Promise.all(KEYS.slice(i, i + 64).map((k) => adapter.set(k, VALUE)));
        opened.set(name, { adapter });
      } catch (err) {
        opened.set(name, { error: `setup failed: ${String(err?.message ?? err).split('\n')[0]}` });
      }
    }
    for (let run = 0; run < runs; run++) {
      const order = clientNames.map((_, i) => clientNames[(i + run) % clientNames.length]);
      for (const wl of rows) {
        for (const name of order) {
          const { adapter } = opened.get(name);
          if (!adapter || (CLIENT_ROWS[name] && !CLIENT_ROWS[name](wl))) continue;
          const cell = await measure((i) => wl.op(adapter, i), {
            concurrency: wl.concurrency,
            opsPerCall: 1,
            durationMs: seconds * 1000,
            warmupMs,
            maxCalls,
          });
          const byClient = results.get(wl.name);
          if (!byClient.has(name)) byClient.set(name, []);
          byClient.get(name).push(cell);
          process.stderr.write(`  [run ${run + 1}/${runs}] ${wl.name} / ${name}: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
          await sleep(50);
        }
      }
    }
    for (const { adapter } of opened.values()) await Promise.resolve(adapter?.close()).catch(() => {});
    const ceiling = await measureCeiling({
      redisBin,
      port: server.port,
      rows: rows.map((w) => ({ name: w.name.replace('tls ', 'ceiling tls '), workload: w.name, test: w.test, inFlight: w.concurrency })),
      seconds,
      runs,
      tls,
    });
    const out = [];
    const baselineOps = new Map();
    for (const wl of rows) {
      for (const name of clientNames) {
        if (CLIENT_ROWS[name] && !CLIENT_ROWS[name](wl)) continue;
        const o = opened.get(name);
        const cell = o.error ? { failed: o.error } : medianCell(results.get(wl.name).get(name) ?? []);
        if (name === BASELINE && !cell.failed) baselineOps.set(wl.name, cell.opsPerSec);
        out.push({ workload: wl.name, client: CLIENT_LABELS[name] ?? name, cell });
      }
    }
    return { rows: out, baselineOps, ceiling };
  } finally {
    await server.stop();
    await certs.cleanup();
  }
}
