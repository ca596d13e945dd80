// Run a child `node` process and collect its exit code and output (consumer and env tests).
import { execFile } from 'node:child_process';

// Environment without any REDIS_* / UPSTASH_* variables from the parent, plus `env`.
export function cleanEnv(env = {}) {
  const out = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(REDIS_|UPSTASH_)/.test(k) && !k.startsWith('NODE_TEST')) out[k] = v;
  }
  return { ...out, ...env };
}

export function runNode(args, { env = {}, cwd, timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { env: cleanEnv(env), cwd, timeout, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, stdout, stderr, killed: Boolean(err && err.killed) });
      });
  });
}

// Parse the last line of stdout that is JSON (children print one JSON result line).
export function lastJson(stdout) {
  const line = stdout.trim().split('\n').reverse().find((l) => l.startsWith('{') || l.startsWith('['));
  if (!line) throw new Error(`child printed no JSON line; stdout: ${stdout}`);
  return JSON.parse(line);
}
