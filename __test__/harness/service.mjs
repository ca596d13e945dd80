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

const OWN_ENV = /^(REDIS_|UPSTASH_)/;

// createRedisService(options) configured by `env` as the only REDIS_*/UPSTASH_* environment: the
// service reads the environment when it is created, so the variables are set just for that moment.
export function openServiceFromEnv(env, options) {
  const { createRedisService } = loadResilis();
  const saved = Object.fromEntries(Object.entries(process.env).filter(([k]) => OWN_ENV.test(k)));
  for (const k of Object.keys(saved)) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return remember(createRedisService(options));
  } finally {
    for (const k of Object.keys(env)) delete process.env[k];
    Object.assign(process.env, saved);
  }
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
