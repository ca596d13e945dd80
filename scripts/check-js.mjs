// The JS lint step of CI (`npm run lint`): every file under lib/ (and the
// loader, binding.js) parses (`node --check`), and no module requires itself
// back through others: an import cycle, lazy `require()` inside a function
// included, fails with the cycle spelled out. Also: public text names no
// seed project.
// Usage: node scripts/check-js.mjs
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function sources(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(file));
    else if (/\.(c|m)?js$/.test(entry.name)) out.push(file);
  }
  return out;
}

const files = [...sources(path.join(root, 'lib')), path.join(root, 'binding.js')];
const failures = [];

for (const file of files) {
  try {
    execFileSync(process.execPath, ['--check', file], { stdio: 'pipe' });
  } catch (e) {
    failures.push(`${path.relative(root, file)} does not parse:\n${String(e.stderr).trim()}`);
  }
}

// Relative requires and imports, wherever they appear in the file.
const SPECIFIER = /(?:\brequire\s*\(\s*|\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

function edges(file) {
  const text = readFileSync(file, 'utf8').replace(/^\s*(\/\/|\*).*$/gm, '');
  const out = new Set();
  for (const m of text.matchAll(SPECIFIER)) {
    try {
      out.add(require.resolve(path.resolve(path.dirname(file), m[1])));
    } catch {
      failures.push(`${path.relative(root, file)}: cannot resolve ${m[1]}`);
    }
  }
  return [...out].filter((f) => !path.relative(root, f).startsWith('..') && !f.endsWith('.json'));
}

const graph = new Map();
const queue = [...files];
while (queue.length) {
  const file = queue.pop();
  if (graph.has(file) || file.endsWith('.node')) continue;
  const next = edges(file);
  graph.set(file, next);
  queue.push(...next);
}

// Depth-first search; a grey node met again closes a cycle.
const state = new Map(); // undefined: unseen, 1: on the stack, 2: done
const stack = [];
const cycles = new Set();
function visit(file) {
  state.set(file, 1);
  stack.push(file);
  for (const dep of graph.get(file) ?? []) {
    if (state.get(dep) === 1) {
      const cycle = stack.slice(stack.indexOf(dep)).concat(dep).map((f) => path.relative(root, f));
      cycles.add(cycle.join(' -> '));
    } else if (state.get(dep) === undefined) {
      visit(dep);
    }
  }
  stack.pop();
  state.set(file, 2);
}
for (const file of graph.keys()) if (state.get(file) === undefined) visit(file);
for (const c of cycles) failures.push(`import cycle: ${c}`);

// Public text (README, typings, lib/) speaks of features, not of the project's own
// seed projects ("seed 003"), which a user cannot look up.
for (const file of ['README.md', 'index.d.ts', 'express.d.ts', ...files]) {
  const lines = readFileSync(path.isAbsolute(file) ? file : path.join(root, file), 'utf8').split('\n');
  lines.forEach((line, i) => {
    if (/\bseeds?[ -]?0\d\d\b/i.test(line)) failures.push(`${path.relative(root, path.resolve(root, file))}:${i + 1}: names a seed project: ${line.trim()}`);
  });
}

if (failures.length) {
  console.error(failures.join('\n'));
  console.error(`check-js: ${failures.length} problem(s)`);
  process.exit(1);
}
console.log(`check-js: ${files.length} files parse, ${graph.size} modules, no import cycle, no seed names in public text`);
