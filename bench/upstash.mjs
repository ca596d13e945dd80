// Rows for the Upstash REST provider: resilis with REDIS_PROVIDER=upstash beside the official
// @upstash/redis client, both pointed at the same Upstash REST test server (the harness's, a real
// HTTP server in front of a real redis-server) in the same run. GET of 100-byte values, one call in
// flight and 16 in flight (where resilis sends a tick's calls as one POST /pipeline; @upstash/redis
// is measured as configured by default and with its enableAutoPipelining). Printed as its own
// table; the ratio column is against @upstash/redis (default). The REST server is a child process.
import { createRequire } from 'node:module';
import { spawn } from 'node:child_process';
import { startRedis } from './server.mjs';
import { measure, medianCell } from './measure.mjs';

const require = createRequire(import.meta.url);

const KEYS = Array.from({ length: 200 }, (_, i) => `bench:upstash:${i}`);
const VALUE = 'u'.repeat(100);

export const UPSTASH_WORKLOADS = [
  { name: 'upstash get 100B c1', concurrency: 1 },
  { name: 'upstash get 100B c16', concurrency: 16 },
];
export const UPSTASH_BASELINE = '@upstash/redis';

// The REST server runs in a child process: in this one it would share the event loop (and its CPU
// figure) with the clients measured, which would favour the one whose work runs off the JS thread.
const SERVER_CHILD = `
  const { startUpstashServer } = await import(${JSON.stringify(new URL('../__test__/harness/upstash-server.mjs', import.meta.url).href)});
  const s = await startUpstashServer({ redisPort: Number(process.argv[1]) });
  process.stdout.write(JSON.stringify({ url: s.url, token: s.token }) + '\\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
`;

async function startRestChild(redisPort) {
  const child = spawn(process.execPath, ['--input-type=module', '-e', SERVER_CHILD, String(redisPort)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (d) => {
      text += d;
      if (text.includes('\n')) resolve(text.split('\n')[0]);
    });
    child.once('exit', (code) => reject(new Error(`the Upstash REST test server exited (${code})`)));
  });
  const { url, token } = JSON.parse(line);
  return { url, token, close: () => { child.stdin.end(); child.kill(); } };
}

/** Returns [{ workload, client, cell }]: the median of `runs` alternating runs per cell. */
export async function measureUpstash({ redisBin, seconds, warmupMs, maxCalls, only, runs = 1 }) {
  const workloads = UPSTASH_WORKLOADS.filter((w) => !only || only.some((s) => w.name.includes(s)));
  if (workloads.length === 0) return [];
  const server = await startRedis({ bin: redisBin });
  const rest = await startRestChild(server.port);
  const { createRedisService } = require('../lib/index.js');
  const { Redis } = require('@upstash/redis');
  const resilis = createRedisService({ provider: 'upstash', upstashUrl: rest.url, upstashToken: rest.token });
  const common = { url: rest.url, token: rest.token, automaticDeserialization: false, enableTelemetry: false };
  const clients = [
    ['resilis (upstash)', (k) => resilis.get(k)],
    [UPSTASH_BASELINE, ((c) => (k) => c.get(k))(new Redis(common))],
    [`${UPSTASH_BASELINE} (autoPipelining)`, ((c) => (k) => c.get(k))(new Redis({ ...common, enableAutoPipelining: true }))],
  ];
  const out = [];
  try {
    for (const k of KEYS) await resilis.set(k, VALUE);
    for (const [, get] of clients) if ((await get(KEYS[0])) !== VALUE) throw new Error('a client read back something else');
    for (const wl of workloads) {
      const cells = new Map(clients.map(([name]) => [name, []]));
      for (let run = 0; run < Math.max(1, runs); run++) {
        // rotate the order each run so no client always goes first
        const order = clients.map((_, i) => clients[(i + run) % clients.length]);
        for (const [name, get] of order) {
          const cell = await measure((i) => get(KEYS[i % KEYS.length]), {
            concurrency: wl.concurrency, opsPerCall: 1, durationMs: seconds * 1000, warmupMs, maxCalls,
          });
          cells.get(name).push(cell);
          process.stderr.write(`  ${wl.name} / ${name}: ${cell.failed ?? `${Math.round(cell.opsPerSec).toLocaleString('en-US')} ops/s`}\n`);
        }
      }
      for (const [name] of clients) out.push({ workload: wl.name, client: name, cell: medianCell(cells.get(name)) });
    }
  } finally {
    await resilis.disconnect().catch(() => {});
    rest.close();
    await server.stop();
  }
  return out;
}
