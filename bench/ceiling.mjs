// The ceiling row: `redis-benchmark` (C, many connections, pipelined) against the same server in the same run,
// for GET and SET of 100 bytes at the clients' in-flight depths, so each client's ops/s reads as a fraction of
// what the server itself sustains on this machine. The depth is split into `-c` connections of `-P` pipelined
// requests each as resilis drives it: up to 16 in flight on one connection (its lane), 256 as -c 16 -P 16
// (1 -> -c 1 -P 1, 16 -> -c 1 -P 16, 256 -> -c 16 -P 16). redis-benchmark sends each connection's -P requests
// as a burst and waits for all replies; the bench's loops are closed-loop per call. Keys: -r 1000 random keys,
// as the bench's 1,000-key families.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { median } from './measure.mjs';

const run = promisify(execFile);

/** -c and -P for `inFlight` requests in flight. */
export function ceilingShape(inFlight) {
  const c = inFlight >= 256 ? 16 : 1;
  return { c, P: Math.max(1, Math.round(inFlight / c)) };
}

/**
 * One redis-benchmark run of `test` ('get' | 'set') with 100-byte values; resolves requests/s.
 * `requests` is sized from `expectedRate` so a run lasts about `seconds`. `tls`: { ca } (a CA file path).
 */
async function oneRun({ redisBin, port, test, inFlight, seconds, tls }) {
  const bin = path.join(path.dirname(redisBin), 'redis-benchmark');
  const { c, P } = ceilingShape(inFlight);
  const requests = Math.max(20_000, Math.round(seconds * (inFlight >= 256 ? 500_000 : inFlight >= 16 ? 150_000 : 25_000)));
  const args = ['-h', '127.0.0.1', '-p', String(port), '-t', test, '-d', '100', '-r', '1000', '-c', String(c), '-P', String(P),
    '-n', String(requests), '--csv', ...(tls ? ['--tls', '--cacert', tls.caFile, '--sni', 'localhost'] : [])];
  const { stdout } = await run(bin, args, { timeout: 120_000 });
  // "test","rps","avg_latency_ms",...  then  "GET","612745.12",...
  const line = stdout.trim().split('\n').find((l) => l.toUpperCase().startsWith(`"${test.toUpperCase()}"`));
  const rps = Number(line?.split(',')[1]?.replace(/"/g, ''));
  if (!Number.isFinite(rps)) throw new Error(`redis-benchmark printed no rate:\n${stdout}`);
  return rps;
}

/**
 * The ceiling of each row in `rows` ([{ name, workload, test, inFlight }]): the median of `runs` redis-benchmark runs.
 * Returns [{ name, workload (the clients' row), test, inFlight, c, P, opsPerSec, runs }].
 */
export async function measureCeiling({ redisBin, port, rows, seconds, runs, tls }) {
  const out = [];
  for (const row of rows) {
    const rates = [];
    for (let r = 0; r < runs; r++) {
      try {
        rates.push(await oneRun({ redisBin, port, test: row.test, inFlight: row.inFlight, seconds, tls }));
      } catch (err) {
        process.stderr.write(`  ${row.name}: ${String(err?.message ?? err).split('\n')[0]}\n`);
      }
    }
    const cell = { name: row.name, workload: row.workload, test: row.test, inFlight: row.inFlight, ...ceilingShape(row.inFlight), opsPerSec: median(rates), runs: rates };
    process.stderr.write(`  ${row.name} (-c ${cell.c} -P ${cell.P}): ${Math.round(cell.opsPerSec ?? 0).toLocaleString('en-US')} ops/s\n`);
    out.push(cell);
  }
  return out;
}

/**
 * The table: each ceiling row, then each client's ops/s on the matching workload as a fraction of it.
 * `clientRows`: [{ workload, client, cell }] (medianCell results); `match(ceilingRow)` gives the workload name.
 */
export function formatCeiling(ceiling, clientRows, match) {
  const lines = [];
  for (const c of ceiling) {
    const head = `${c.name}: redis-benchmark -c ${c.c} -P ${c.P} -d 100: ${c.opsPerSec == null ? 'failed' : `${Math.round(c.opsPerSec).toLocaleString('en-US')} ops/s`}`;
    const parts = clientRows
      .filter((r) => r.workload === match(c) && !r.cell.failed)
      .map((r) => {
        const cpu = r.cell.cpuMsPer1kOps == null ? '' : `, ${r.cell.cpuMsPer1kOps.toFixed(2)} µs CPU/op`;
        const frac = c.opsPerSec ? (r.cell.opsPerSec / c.opsPerSec).toFixed(2) : '-';
        return `    ${r.client}: ${frac} (${Math.round(r.cell.opsPerSec).toLocaleString('en-US')} ops/s${cpu})`;
      });
    lines.push(head, ...parts);
  }
  return lines.join('\n');
}
