// The cost of installing and loading resilis: the addon's size on disk and the time
// `require('resilis')` takes in a fresh process (median of N runs; the first run, which
// may read the file from disk, is dropped).
// Usage: node bench/load.mjs [runs=21] [path to the package, default: this checkout]
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] || 21);
const target = path.resolve(process.argv[3] || root);

const CHILD = `
const t0 = process.hrtime.bigint();
require(process.argv[1]);
const t1 = process.hrtime.bigint();
console.log(Number(t1 - t0) / 1e6);
`;

const times = [];
for (let i = 0; i <= runs; i++) {
  const ms = Number(execFileSync(process.execPath, ['-e', CHILD, target], { encoding: 'utf8' }).trim());
  if (i > 0) times.push(ms);
}
times.sort((a, b) => a - b);
const median = times[Math.floor(times.length / 2)];
for (const f of readdirSync(root).filter((n) => n.endsWith('.node'))) {
  console.log(`${f}: ${(statSync(path.join(root, f)).size / 1048576).toFixed(2)} MiB`);
}
console.log(`require('resilis'): median ${median.toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${runs} fresh processes`);
