// Starts and stops a throwaway redis-server on a free loopback port.
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST = '127.0.0.1';

/** Ask the kernel for a free loopback port (small race window before redis binds it; start() retries). */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** One PING over a raw socket; resolves true on +PONG. */
function ping(port, timeoutMs = 500) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    let buf = '';
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => {
      buf += d;
      if (buf.includes('\r\n')) done(buf.startsWith('+PONG'));
    });
  });
}

export function redisServerVersion(bin) {
  try {
    const out = execFileSync(bin, ['--version'], { encoding: 'utf8' });
    return /v=(\S+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return 'unknown';
  }
}

/**
 * Start redis-server (`args`: extra arguments, `cwd`: its working directory). Resolves { host, port, url, pid, version, stop() }.
 * stop() is idempotent; a synchronous kill on process exit is registered as a safety net.
 */
export async function startRedis({ bin = '/usr/bin/redis-server', readyTimeoutMs = 10_000, attempts = 3, args = [], cwd } = {}) {
  let lastErr;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await freePort();
    try {
      return await launch(bin, port, readyTimeoutMs, args, cwd);
    } catch (err) {
      lastErr = err;
    }
  }
  throw lastErr;
}

async function launch(bin, port, readyTimeoutMs, extraArgs, cwd) {
  const args = ['--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', ...extraArgs];
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let log = '';
  const keepLog = (d) => {
    log = (log + d).slice(-4000);
  };
  child.stdout.on('data', keepLog);
  child.stderr.on('data', keepLog);

  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on('error', (err) => {
      exited = { error: err };
      resolve(exited);
    });
  });

  const killOnExit = () => {
    if (!exited) child.kill('SIGKILL');
  };
  process.on('exit', killOnExit);

  const stop = async () => {
    process.off('exit', killOnExit);
    if (exited) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exitPromise;
    clearTimeout(timer);
  };

  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited) break;
    if (await ping(port)) {
      return {
        host: HOST,
        port,
        url: `redis://${HOST}:${port}`,
        pid: child.pid,
        version: redisServerVersion(bin),
        stop,
      };
    }
    await sleep(50);
  }
  await stop();
  const why = exited?.error ? exited.error.message : `exit ${JSON.stringify(exited)}`;
  throw new Error(`redis-server on port ${port} did not become ready (${why}); log tail:\n${log}`);
}
