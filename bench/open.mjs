// Opening a bench client: load it, connect, write the GET fixtures (bench/run.mjs, bench/rss.mjs).
import { CLIENTS } from './clients.mjs';
import { PRELOAD } from './workloads.mjs';

const errMsg = (err) => String(err?.message ?? err).split('\n')[0].slice(0, 160);

/** Bounded wait so a client that never settles cannot stall the run. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Load + connect + preload the GET fixtures. Returns { adapter } or { error }. */
export async function openClient(name, server) {
  let adapter;
  try {
    adapter = await withTimeout(CLIENTS[name]({ host: server.host, port: server.port, url: server.url }), 30_000, 'load');
  } catch (err) {
    return { error: `load failed: ${errMsg(err)}` };
  }
  try {
    await withTimeout(adapter.connect(), 10_000, 'connect');
  } catch (err) {
    closeQuietly(adapter);
    return { error: `connect failed: ${errMsg(err)}` };
  }
  try {
    // Each client writes the read fixtures itself (same values for all), 64 writes in flight.
    let next = 0;
    const writer = async () => {
      while (next < PRELOAD.length) {
        const [k, v] = PRELOAD[next++];
        await adapter.set(k, v);
      }
    };
    await withTimeout(Promise.all(Array.from({ length: 64 }, writer)), 30_000, 'preload');
  } catch (err) {
    closeQuietly(adapter);
    return { error: `preload failed: ${errMsg(err)}` };
  }
  return { adapter };
}

export async function closeQuietly(adapter) {
  try {
    await withTimeout(Promise.resolve(adapter.close()), 5_000, 'close');
  } catch {
    /* measurement is over; ignore */
  }
}
