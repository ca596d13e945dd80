// Open resilis services against a harness server and close them all at the end of a spec.
import { loadResilis } from './package.mjs';
import { settleWithin } from './util.mjs';

const opened = new Set();

// createRedisService({ url: server.url, ...options }), remembered for closeServices().
export function openService(server, options = {}) {
  const { createRedisService } = loadResilis();
  const svc = createRedisService({ url: server.url, ...options });
  opened.add(svc);
  return svc;
}

// Remember a service made some other way so closeServices() disconnects it too.
export function remember(svc) {
  opened.add(svc);
  return svc;
}

export async function closeServices() {
  const all = [...opened];
  opened.clear();
  // bounded, so a disconnect() that never settles cannot hang the spec's `after`
  await Promise.allSettled(all.map((s) => settleWithin(Promise.resolve().then(() => s.disconnect()), 10000, 'disconnect()')));
}
