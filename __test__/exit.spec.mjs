// A Node process that used a service exits on its own after disconnect() (issue 4: nothing in the
// core, its timers, reconnection or event delivery keeps the process alive), with Redis up, with
// Redis killed mid-way (commands served by the fallback or rejected), and with no Redis at all.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { runNode, lastJson } from './harness/child.mjs';
import { writeScript } from './harness/node-script.mjs';

const EXIT_WITHIN_MS = 3000;

// argv: options (JSON), the pid of a redis-server to SIGKILL after the first commands, or 0.
// Every command is bounded by its own commandTimeout; listeners for all events are attached.
const CHILD = `
const [optionsJson, killPid] = process.argv.slice(2);
const svc = resilis.createRedisService(JSON.parse(optionsJson));
for (const ev of ['error', 'reconnecting', 'circuitOpen', 'circuitClose', 'fallback', 'end']) svc.on(ev, () => {});
const outcome = (p) => p.then((v) => ({ v }), (e) => ({ code: e.code }));
const results = [];
await svc.connect().catch(() => {});
results.push(await outcome(svc.set('exit:k', 'v', 60)), await outcome(svc.get('exit:k')), await outcome(svc.incr('exit:n')));
if (Number(killPid)) {
  process.kill(Number(killPid), 'SIGKILL');
  await sleep(200);
  for (let i = 0; i < 5; i++) results.push(await outcome(svc.set('exit:down:' + i, 'v')), await outcome(svc.get('exit:down:' + i)));
  results.push(await outcome(svc.healthCheck()), await outcome(svc.getStats()));
}
await svc.disconnect();
console.log(JSON.stringify({ disconnectedAt: Date.now(), results: results.slice(0, 6) }));
`;

let file;
const servers = [];
before(async () => { file = await writeScript('exit-after-disconnect', CHILD); });
after(async () => {
  for (const s of servers) await s.stop();
});

async function exitsOnItsOwn(options, killPid = 0) {
  const res = await runNode([file, JSON.stringify(options), String(killPid)], { timeout: 30000 });
  const exitedAt = Date.now();
  assert.ok(!res.killed, `the child was still running after 30 s: stdout ${res.stdout}\nstderr ${res.stderr}`);
  assert.equal(res.code, 0, `child failed: ${res.stderr}`);
  const out = lastJson(res.stdout);
  const lingered = exitedAt - out.disconnectedAt;
  assert.ok(lingered < EXIT_WITHIN_MS, `the process lived ${lingered} ms after disconnect()`);
  return out;
}

test('with Redis up: the process exits on its own after disconnect()', { timeout: 40000 }, async () => {
  const server = await startRedis();
  servers.push(server);
  const out = await exitsOnItsOwn({ url: server.url });
  assert.deepEqual(out.results, [{ v: 'OK' }, { v: 'v' }, { v: 1 }]);
});

test('with Redis killed mid-way (commands while it is down): the process exits on its own after disconnect()', { timeout: 40000 }, async () => {
  const server = await startRedis();
  servers.push(server);
  await exitsOnItsOwn({ url: server.url, commandTimeout: 300, connectTimeout: 300, circuitBreaker: { resetTimeout: 500 } }, server.pid);
});

test('with no Redis at all (enabled: false): the process exits on its own after disconnect()', { timeout: 40000 }, async () => {
  const out = await exitsOnItsOwn({ enabled: false });
  assert.deepEqual(out.results, [{ v: 'OK' }, { v: 'v' }, { v: 1 }]);
});
