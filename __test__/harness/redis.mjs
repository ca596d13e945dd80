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

// Fast replication for topologies with replicas (FAULTS.md): full sync at once, 1 s pings.
export const REPLICATION_ARGS = ['--repl-diskless-sync-delay', '0', '--repl-ping-replica-period', '1'];

// `portFlag` '--tls-port' makes the chosen port the TLS one and turns the plaintext port off.
function baseArgs(port, dir, portFlag) {
  const listen = portFlag === '--port' ? ['--port', String(port)] : ['--port', '0', portFlag, String(port)];
  return [
    ...listen,
    '--bind', '127.0.0.1',
    '--dir', dir,
    '--save', '',
    '--appendonly', 'no',
    '--enable-debug-command', 'local',
  ];
}

// A config file, when given, must come first on redis-server's command line (sentinels need one).
function spawnServer(port, dir, extraArgs, { configFile, portFlag }) {
  const head = configFile ? [configFile] : [];
  const child = spawn(REDIS_SERVER, [...head, ...baseArgs(port, dir, portFlag), ...extraArgs], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  child.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  child.stderrText = () => stderr;
  return track(child);
}

// Poll `redis-cli ping` until PONG (auth-aware), or fail if the process died.
async function waitReady(child, port, auth) {
  const deadline = Date.now() + READY_TIMEOUT_MS;
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
 * startRedis({ args?: string[], password?: string, configFile?, sentinel?, portFlag?, cliArgs? }) ->
 *   { port, url, pid, dir, cli(...args), cliBuffer(...args), stop(), kill(signal), restart() }
 * `password` adds --requirepass and makes cli() authenticate.
 * `configFile(dir)` returns the path of a config file to load first (written into the server's dir);
 * `sentinel: true` runs it as redis-sentinel. `portFlag: '--tls-port'` listens on TLS only, and
 * `cliArgs` (e.g. --tls --cacert ...) go on every redis-cli call, readiness included.
 */
export async function startRedis({ args = [], password, configFile, sentinel = false, portFlag = '--port', cliArgs = [] } = {}) {
  killAllOnExit();
  const dir = await mkdtemp(path.join(os.tmpdir(), sentinel ? 'resilis-sentinel-' : 'resilis-redis-'));
  const extra = password ? [...args, '--requirepass', password] : [...args];
  if (sentinel) extra.unshift('--sentinel');
  const auth = [...cliArgs, ...(password ? ['--no-auth-warning', '-a', password] : [])];
  const spawnOptions = { configFile: configFile ? await configFile(dir) : undefined, portFlag };

  let port;
  let child;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    child = spawnServer(port, dir, extra, spawnOptions);
    try {
      await waitReady(child, port, auth);
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
    get url() { return `${portFlag === '--tls-port' ? 'rediss' : 'redis'}://127.0.0.1:${port}`; },
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
      child = spawnServer(port, dir, extra, spawnOptions);
      await waitReady(child, port, auth);
    },
  };
  return server;
}
