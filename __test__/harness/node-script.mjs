// Child Node programs that use the package: written to a temp .mjs file (so they can use
// top-level await and `import`), run to completion with runNode, or spawned and watched line
// by line when the test must kill them mid-way.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { repoRoot } from './package.mjs';
import { cleanEnv } from './child.mjs';
import { track } from './processes.mjs';

let dir;

// `source` may use `resilis` (the CommonJS entry, already loaded) and `sleep(ms)`.
export async function writeScript(name, source) {
  dir ??= await mkdtemp(path.join(os.tmpdir(), 'resilis-child-'));
  const file = path.join(dir, `${name}.mjs`);
  const entry = pathToFileURL(path.join(repoRoot, 'lib', 'index.js')).href;
  await writeFile(file, `import resilis from ${JSON.stringify(entry)};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
${source}
`);
  return file;
}

// Spawn `node file ...args`; `lines` collects stdout lines, `waitFor(re)` resolves the first match.
export function spawnScript(file, args = [], { env = {} } = {}) {
  const child = track(spawn(process.execPath, [file, ...args], { env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] }));
  const lines = [];
  const waiters = [];
  let buf = '';
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.stdout.on('data', (d) => {
    buf += d;
    let i;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters]) {
        const m = w.re.exec(line);
        if (m) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(m);
        }
      }
    }
  });
  // 'close', not 'exit': after 'exit' the last lines of stdout may still be on their way.
  child.exited = new Promise((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  child.lines = lines;
  child.stderrText = () => stderr;
  child.waitFor = (re, ms = 15000) => new Promise((resolve, reject) => {
    const hit = lines.map((l) => re.exec(l)).find(Boolean);
    if (hit) return resolve(hit);
    const timer = setTimeout(() => reject(new Error(`child never printed ${re}; stdout: ${lines.join('\n')}\nstderr: ${stderr}`)), ms);
    waiters.push({ re, resolve: (m) => { clearTimeout(timer); resolve(m); } });
    return undefined;
  });
  return child;
}
