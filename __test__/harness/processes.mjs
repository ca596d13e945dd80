// Registry of child processes the harness started, so none outlives the test process.
const live = new Set();
let installed = false;

export function track(child) {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

export function untrack(child) {
  live.delete(child);
}

// Synchronously SIGKILL every tracked child that is still running.
export function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

// Install once: kill all started servers when this process exits (normally or by signal).
export function killAllOnExit() {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}
