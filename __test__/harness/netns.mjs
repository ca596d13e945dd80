// Network namespaces for partition faults (FAULTS.md "network partition"): a fresh namespace with
// only its own loopback up, a redis-server started inside it, and programs run inside it (the
// client too, so everything stays on a loopback address). iptables rules in the namespace, e.g.
// `-A INPUT -p tcp --dport P -j DROP`, blackhole the server without touching the host.
// Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and the `ip` (iproute2) and `iptables` commands.
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { REDIS_SERVER } from './redis.mjs';
import { REDIS_CLI } from './cli.mjs';
import { cleanEnv } from './child.mjs';
import { track, killAllOnExit } from './processes.mjs';

const run = promisify(execFile);
let counter = 0;

// null when namespaces work here, else why not (the command that failed and what it said).
export async function netnsUnavailable() {
  for (const cmd of ['ip', 'iptables']) {
    try {
      await run('sh', ['-c', `command -v ${cmd}`]);
    } catch {
      return `\`${cmd}\` is not installed (apt-get install -y iproute2 iptables)`;
    }
  }
  let ns;
  try {
    ns = await createNetns();
    await ns.exec('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', '1', '-j', 'DROP']);
    return null;
  } catch (err) {
    return `network namespaces or iptables are not usable here: ${String(err.stderr || err.message).trim().split('\n')[0]}`;
  } finally {
    await ns?.destroy();
  }
}

/** createNetns() -> { name, exec(cmd, args, opts) -> { stdout, stderr }, destroy() } */
export async function createNetns() {
  const name = `resilis-${process.pid}-${counter++}`;
  await run('ip', ['netns', 'add', name]);
  const ns = {
    name,
    exec: (cmd, args = [], opts = {}) => run('ip', ['netns', 'exec', name, cmd, ...args], { maxBuffer: 16 * 1024 * 1024, ...opts }),
    async destroy() {
      await run('ip', ['netns', 'del', name]).catch(() => {});
    },
  };
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await ns.destroy();
    throw err;
  }
  return ns;
}

/** redisInNetns(ns, port) -> { port, stop() }: redis-server on 127.0.0.1:port inside ns, ready. */
export async function redisInNetns(ns, port) {
  killAllOnExit();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'resilis-netns-redis-'));
  const child = track(spawn('ip', ['netns', 'exec', ns.name, REDIS_SERVER, '--port', String(port), '--bind', '127.0.0.1',
    '--dir', dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' }));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  for (const deadline = Date.now() + 10000; ;) {
    const pong = await ns.exec(REDIS_CLI, ['-p', String(port), 'ping']).then((r) => r.stdout.trim(), () => '');
    if (pong === 'PONG') return { port, stop };
    if (Date.now() > deadline || child.exitCode !== null) {
      await stop();
      throw new Error(`redis-server in ${ns.name} not ready`);
    }
    await sleep(50);
  }
}

// `node file ...args` inside ns with a clean REDIS_* environment; resolves { code, stdout, stderr }.
export function runNodeInNetns(ns, file, args = [], { timeout = 30000 } = {}) {
  return new Promise((resolve) => {
    execFile('ip', ['netns', 'exec', ns.name, process.execPath, file, ...args.map(String)],
      { env: cleanEnv(), timeout, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? err.signal ?? 1) : 0, stdout, stderr }));
  });
}
