// Run a child `node` process and collect its exit code and output (consumer and env tests).
import { execFile } from 'node:child_process';
import path from 'node:path';
import { repoRoot } from './package.mjs';

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

// The child for runService: the seeds' way in, getRedisService() configured from the environment.
const SERVICE_CHILD = `
const { getRedisService } = require(process.argv[1]);
const body = new Function('svc', 'return (async () => {' + process.argv[2] + '})()');
(async () => {
  const started = Date.now();
  let out;
  let svc;
  try {
    svc = getRedisService();
    out = { value: await body(svc), ms: Date.now() - started };
  } catch (e) {
    out = { error: { code: e && e.code, name: e && e.name, message: String(e && e.message), stack: String(e && e.stack) }, ms: Date.now() - started };
  }
  // bounded: a slow disconnect is reported (disconnectMs), it does not slow the test down
  const closing = Date.now();
  try { if (svc) await Promise.race([svc.disconnect(), new Promise((r) => setTimeout(r, 500))]); } catch {}
  out.disconnectMs = Date.now() - closing;
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`;

/**
 * runService(env, body) -> { value } | { error: { code, message, stack } }, plus ms, disconnectMs, stdout, stderr.
 * Runs `body` (the text of an async function body with `svc` in scope; its return value is JSON'd)
 * in a child node whose only REDIS_* variables are `env`.
 */
export async function runService(env, body, { timeout = 60000 } = {}) {
  const res = await runNode(['-e', SERVICE_CHILD, path.join(repoRoot, 'lib', 'index.js'), body], { env, timeout });
  if (res.code !== 0) throw new Error(`child exited with ${res.code}: ${res.stderr}`);
  return { ...lastJson(res.stdout), stdout: res.stdout, stderr: res.stderr };
}
