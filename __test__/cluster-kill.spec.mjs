// A cluster under a connection-kill storm (issue 16, part 5): every master's client connections
// are killed every 20 ms (CLIENT KILL TYPE normal) while 3,000 RPUSHes of unique ids run 16 in
// flight over lists on every master. RPUSH is not idempotent: one that may have reached a node
// must never be sent again by the router after its connection drops (it rejects with
// sent: 'unknown'). Checked afterwards: no id stored twice, no acknowledged id missing, no id
// stored whose RPUSH was rejected as not sent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCluster } from './harness/cluster.mjs';
import { openServiceFromEnv, closeServices } from './harness/service.mjs';
import { traffic, firstFailures } from './harness/faults.mjs';
import { eventually, uniqueKey } from './harness/util.mjs';

const PUSHES = 3000;
const COMMAND_TIMEOUT = 2000;
const BOUND = COMMAND_TIMEOUT + 1500;
const KILL_EVERY_MS = 20;

let cluster;
let run;

before(async () => {
  cluster = await startCluster({ masters: 3, replicasPerMaster: 0 });
  await cluster.waitHealthy();
  const svc = openServiceFromEnv({
    REDIS_CLUSTER_MODE: 'true',
    REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(','),
    REDIS_ENABLED: 'true',
  }, { commandTimeout: COMMAND_TIMEOUT });
  svc.on('error', () => {});
  await svc.ping();

  // Lists spread over the slots until every master owns at least one.
  const lists = [];
  const owners = new Set();
  for (let i = 0; owners.size < cluster.masters().length || lists.length < 6; i++) {
    const key = `${uniqueKey('storm')}:{${i}}`;
    lists.push(key);
    owners.add((await cluster.masterForKey(key)).port);
  }

  const load = traffic((i) => svc.rpush(lists[i % lists.length], `id:${i}`), {
    concurrency: 16, maxOps: PUSHES, boundMs: BOUND, pauseMs: 5,
  });
  let kills = 0;
  let killed = 0;
  while (load.calls.length < PUSHES) {
    const counts = await Promise.all(cluster.masters().map((m) => m.cli('client', 'kill', 'type', 'normal').catch(() => '0')));
    killed += counts.reduce((a, n) => a + (Number(n) || 0), 0);
    kills++;
    await sleep(KILL_EVERY_MS);
  }
  const summary = await load.stop();
  // Whatever the fallback journalled while connections were down is replayed by now.
  await eventually(async () => (await svc.set(uniqueKey('probe'), '1').catch(() => null)) === 'OK', 10000, 100);
  await eventually(async () => (await svc.getStats()).replay?.pending === 0, 10000, 100);
  const stored = [];
  for (const key of lists) {
    const owner = await cluster.masterForKey(key);
    stored.push(...(await owner.cli('lrange', key, '0', '-1')).split('\n').filter(Boolean));
  }
  run = { svc, summary, calls: load.calls, kills, killed, stored, stats: await svc.getStats() };
}, { timeout: 120000 });

after(async () => {
  await closeServices();
  await cluster?.stop();
});

test('the storm was injected and every call settled', (t) => {
  t.diagnostic(`${run.kills} kill rounds closed ${run.killed} connections; calls: ${JSON.stringify(run.summary)}; replay: ${JSON.stringify(run.stats.replay)}`);
  assert.ok(run.killed > 0, 'CLIENT KILL closed no connection: the fault was not injected');
  assert.equal(run.summary.total, PUSHES);
  assert.equal(run.summary.hung, 0, `${run.summary.hung} calls did not settle within ${BOUND} ms\n${firstFailures(run.calls)}`);
  assert.ok(run.summary.ok > PUSHES / 10, `only ${run.summary.ok} calls succeeded`);
  const unsaid = run.calls.filter((c) => !c.ok && !['no', 'unknown'].includes(c.sent));
  assert.equal(unsaid.length, 0, `a failed write must say whether it was sent:\n${firstFailures(unsaid)}`);
});

test('RPUSH: none stored twice, none acknowledged and lost, none stored after "not sent"', () => {
  const present = new Map();
  for (const id of run.stored) present.set(id, (present.get(id) || 0) + 1);
  const twice = [...present].filter(([, n]) => n > 1);
  assert.equal(twice.length, 0, `ids pushed more than once: ${JSON.stringify(twice.slice(0, 5))}`);
  const lost = run.calls.filter((c) => c.ok && !present.has(`id:${c.i}`));
  assert.equal(lost.length, 0, `${lost.length} acknowledged RPUSHes are not stored: ${lost.slice(0, 5).map((c) => c.i)}`);
  const ranAnyway = run.calls.filter((c) => !c.ok && c.sent === 'no' && present.has(`id:${c.i}`));
  assert.equal(ranAnyway.length, 0, `RPUSHes rejected as not sent ran: ${ranAnyway.slice(0, 5).map((c) => c.i)}`);
  assert.equal(run.stats.replay?.dropped ?? 0, 0, 'the journal dropped nothing');
});
