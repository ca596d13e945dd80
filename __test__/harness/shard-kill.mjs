// SIGKILL of one cluster master under load, and what must hold after it (cluster.spec, cluster-tls.spec):
// the other shards' calls all succeed, nothing hangs, and the killed shard serves again once a replica is promoted.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startLoad, describeErrors } from './load.mjs';

/**
 * killMasterUnderLoad(cluster, svc, { label, shardConcurrency, shardPauseMs }) ->
 *   { survivors, shard, killedAt, healthyAt, during, slowest }
 * Survivors: SET + GET on the other masters' keys, 4 in flight; shard: SETs on the victim's keys. The victim is
 * killed after 300 ms; both loads stop 3 s after the cluster is healthy again. `during`: the survivors' calls
 * started while the master was down; `slowest`: the longest of them (ms).
 */
export async function killMasterUnderLoad(cluster, svc, { label, shardConcurrency = 2, shardPauseMs = 20 }) {
  const tags = await cluster.tagPerMaster(label);
  const victim = cluster.masters()[0];
  const victimTag = tags.get(victim.port);
  const otherTags = [...tags.entries()].filter(([port]) => port !== victim.port).map(([, tag]) => tag);
  const survivorLoad = startLoad(async (id) => {
    const key = `${otherTags[id % otherTags.length]}:k:${id % 50}`;
    await svc.set(key, String(id));
    return svc.get(key);
  }, { concurrency: 4 });
  const shardLoad = startLoad((id) => svc.set(`${victimTag}:k:${id % 50}`, String(id)), {
    concurrency: shardConcurrency, pauseMs: shardPauseMs,
  });
  await sleep(300);
  const killedAt = Date.now();
  await cluster.kill(victim);
  await cluster.waitHealthy();
  const healthyAt = Date.now();
  await sleep(3000);
  const [survivors, shard] = await Promise.all([survivorLoad.stop(), shardLoad.stop()]);
  const during = survivors.acked.filter((o) => o.started >= killedAt && o.started < healthyAt);
  const slowest = Math.max(0, ...during.map((o) => o.done - o.started));
  return { survivors, shard, killedAt, healthyAt, during, slowest };
}

/** The checks every kill shares; `t` gets the figures as a diagnostic. */
export function assertShardKill(t, { survivors: s, shard: v, killedAt, healthyAt, during, slowest }) {
  t.diagnostic(`promotion took ${healthyAt - killedAt} ms; survivors: ${s.acked.length} ok (${during.length} during the outage, `
    + `slowest ${slowest} ms), ${s.errors.length} errors; victim shard: ${v.acked.length} ok, ${v.errors.length} errors`);
  assert.ok(![...s.errors, ...v.errors].some((e) => /did not settle/.test(e.message)), 'a call never settled');
  assert.equal(s.errors.length, 0, `the other shards failed calls:\n${describeErrors(s.errors)}`);
  const late = [...v.acked, ...v.errors].filter((o) => o.started > healthyAt + 2000);
  assert.ok(late.length > 0, 'no call on the killed shard after the promotion');
  const lateErrors = v.errors.filter((e) => e.started > healthyAt + 2000);
  assert.equal(lateErrors.length, 0, `the killed shard still fails 2 s after the promotion:\n${describeErrors(lateErrors)}`);
}
