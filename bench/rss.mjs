// RSS per client: the main table's clients share one Node process, so its RSS column cannot say whose heap
// is whose. Here each client runs alone in a Node process of its own (this file, run as a child), against one
// redis-server of this run, through the plain GET/SET 100 B rows; the child reports its RSS after each row
// (and before the first, with the client connected and the fixtures written).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { WORKLOADS } from './workloads.mjs';
import { measure } from './measure.mjs';
import { openClient, closeQuietly } from './open.mjs';
import { CLIENT_LABELS } from './clients.mjs';

export const RSS_ROWS = ['set 100B c1', 'set 100B c16', 'set 100B c256', 'get 100B c1', 'get 100B c16', 'get 100B c256'];
export const RSS_CLIENTS = ['resilis', 'ioredis', 'redis', 'glide'];
const mb = () => process.memoryUsage().rss / 2 ** 20;

/** The child: `node bench/rss.mjs <client> <port> <seconds>`; prints one JSON line. */
async function child([name, port, seconds]) {
  const server = { host: '127.0.0.1', port: Number(port), url: `redis://127.0.0.1:${port}` };
  const { adapter, error } = await openClient(name, server);
  if (!adapter) return { client: name, error };
  const rss = { connected: mb() };
  for (const row of RSS_ROWS) {
    const wl = WORKLOADS.find((w) => w.name === row);
    const cell = await measure((i) => wl.op(adapter, i), {
      concurrency: wl.concurrency, opsPerCall: wl.opsPerCall, durationMs: Number(seconds) * 1000, warmupMs: 300, maxCalls: 5_000_000,
    });
    rss[row] = cell.failed ? null : mb();
    await sleep(50);
  }
  await closeQuietly(adapter);
  return { client: name, rss };
}

/** Each client in turn, in a process of its own, against `port`. Returns [{ client, label, rss: { row: MB } }]. */
export async function measureRss({ port, seconds, clients = RSS_CLIENTS }) {
  const out = [];
  for (const name of clients) {
    const text = await new Promise((resolve) => {
      const p = spawn(process.execPath, [fileURLToPath(import.meta.url), name, String(port), String(seconds)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let buf = '';
      p.stdout.on('data', (d) => { buf += d; });
      p.on('exit', () => resolve(buf));
    });
    let res;
    try {
      res = JSON.parse(text.trim().split('\n').pop());
    } catch {
      res = { client: name, error: `no report (${text.trim().slice(0, 120)})` };
    }
    out.push({ ...res, label: CLIENT_LABELS[name] ?? name });
  }
  return out;
}

/** A table: one column per client, RSS in MB after each row. */
export function formatRss(results) {
  const head = ['after', ...results.map((r) => r.label)];
  const lines = [head.join(' | ')];
  for (const row of ['connected', ...RSS_ROWS]) {
    lines.push([row, ...results.map((r) => (r.rss?.[row] != null ? r.rss[row].toFixed(0) : r.error ?? '-'))].join(' | '));
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  child(process.argv.slice(2)).then(
    (r) => { process.stdout.write(`${JSON.stringify(r)}\n`); process.exit(0); },
    (err) => { process.stdout.write(`${JSON.stringify({ error: String(err?.message ?? err) })}\n`); process.exit(1); },
  );
}
