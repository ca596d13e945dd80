// Start real, throwaway redis-server processes on free loopback ports.
// Later topologies (replicas, sentinel, cluster, TLS) get their own starters beside this file
// and reuse startRedis({ args }) for their nodes.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.mjs';
import { runCli } from './cli.mjs';
import { track, killAllOnExit } from './processes.mjs';

export { killAllOnExit } from './processes.mjs';

export const REDIS_SERVER = process.env.RESILIS_TEST_REDIS_SERVER || '/usr/bin/redis-server';

const READY_TIMEOUT_MS = 15000;

function baseArgs(port, dir) {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--enable-debug-command', 'local',
  ];
}

function spawnServer(port, dir, extraArgs) {
  const child = spawn(REDIS_SERVER, [...baseArgs(port, dir), ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderrText = () => stderr;
  return track(child);
}

// Poll `redis-cli ping` until PONG (auth-aware), or fail if the process died.
async function waitReady(child, port, password) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  const auth = password ? ['--no-auth-warning', '-a', password] : [];
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on ${port} exited early: ${child.stderrText()}`);
    }
    try {
      if ((await runCli(port, [...auth, 'ping'], { timeout: 2000 })) === 'PONG') return;
    } catch {
      // not yet listening
    }
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} not ready in ${READY_TIMEOUT_MS} ms`);
    await sleep(50);
  }
}

/**
 * startRedis({ args?: string[], password?: string }) ->
 *   { port, url, pid, dir, cli(...args), cliBuffer(...args), stop(), kill(signal), restart() }
 * `password` adds --requirepass and makes cli() authenticate.
 */
export async function startRedis({ args = [], password } = {}) {
  killAllOnExit();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'resilis-redis-'));
  const extra = password ? [...args, '--requirepass', password] : [...args];
  const auth = password ? ['--no-auth-warning', '-a', password] : [];

  let port;
  let child;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    child = spawnServer(port, dir, extra);
    try {
      await waitReady(child, port, password);
      break;
    } catch (err) {
      child.kill('SIGKILL');
      await child.exited;
      if (attempt >= 2) throw err; // port raced away three times, or the server cannot start
    }
  }

  const server = {
    port,
    dir,
    get url() { return `redis://127.0.0.1:${port}`; },
    get pid() { return child.pid; },
    get running() { return child.exitCode === null && child.signalCode === null; },
    cli: (...a) => runCli(port, [...auth, ...a]),
    cliBuffer: (...a) => runCli(port, [...auth, ...a], { buffer: true }),
    cliInput: (input, ...a) => runCli(port, [...auth, '-x', ...a], { input }),
    async kill(signal = 'SIGKILL') {
      if (!server.running) return;
      const exited = child.exited;
      child.kill(signal);
      if (signal === 'SIGKILL' || signal === 'SIGTERM' || signal === 'SIGINT') await exited;
    },
    async stop() {
      if (server.running) {
        const exited = child.exited;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
    // Kill (SIGKILL) and start again on the same port and dir; data is not persisted.
    async restart() {
      await server.kill('SIGKILL');
      child = spawnServer(port, dir, extra);
      await waitReady(child, port, password);
    },
  };
  return server;
}
