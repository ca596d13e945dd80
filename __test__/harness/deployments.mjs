// The library specs run the same scenarios on a standalone server and on a cluster:
// `onEachDeployment(scenarios)` declares one describe() per deployment, each starting its servers
// in `before` and a connected service on them. `scenarios(d)` declares the tests; while they run,
// `d.name` is 'standalone' | 'cluster', `d.svc` the service, `d.cli(key, ...args)` runs redis-cli
// on the node that holds `key`, `d.masters()` every master (SCRIPT FLUSH, SCAN). Scenarios may set
// `d.teardown()`: it runs first in `after`, while the services are still connected.
import { describe, before, after } from 'node:test';
import { startRedis } from './redis.mjs';
import { startCluster } from './cluster.mjs';
import { openService, remember, closeServices } from './service.mjs';
import { loadResilis } from './package.mjs';

const DEPLOYMENTS = {
  async standalone() {
    const redis = await startRedis();
    return {
      svc: openService(redis),
      cli: (_key, ...args) => redis.cli(...args),
      masters: () => [redis],
      stop: () => redis.stop(),
    };
  },
  async cluster() {
    const cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
    const clusterNodes = cluster.masters().map((n) => `127.0.0.1:${n.port}`);
    return {
      svc: remember(loadResilis().createRedisService({ cluster: true, clusterNodes })),
      cli: async (key, ...args) => (await cluster.masterForKey(key)).cli(...args),
      masters: () => cluster.masters(),
      stop: () => cluster.stop(),
    };
  },
};

export function onEachDeployment(scenarios, { names = Object.keys(DEPLOYMENTS) } = {}) {
  for (const name of names) {
    describe(name, () => {
      const d = { name };
      let started;
      before(async () => {
        started = await DEPLOYMENTS[name]();
        Object.assign(d, started);
        await d.svc.connect();
      });
      after(async () => {
        await d.teardown?.();
        await closeServices();
        await started?.stop();
      });
      scenarios(d);
    });
  }
}
