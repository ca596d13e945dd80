// A Redis that stops answering (issue 4, FAULTS.md "process hang" and "network partition"):
// calls settle within the command timeout (rejected as outcome-unknown, or served from the
// fallback), the service recovers when the server answers again, and the replies that arrive late
// on the old connection never reach a caller (every value is unique, so a misdelivery shows).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually, settleWithin } from './harness/util.mjs';
import { lastJson } from './harness/child.mjs';
import { REDIS_CLI } from './harness/cli.mjs';
import { writeScript } from './harness/node-script.mjs';
import { traffic, firstFailures } from './harness/faults.mjs';
import { netnsUnavailable, createNetns, redisInNetns, runNodeInNetns } from './harness/netns.mjs';

const COMMAND_TIMEOUT = 500;
const BOUND = COMMAND_TIMEOUT + 1000;
// what a call may reject with while the server does not answer: a timeout says the command may
// have run ('unknown'); a connection error says whether it was sent
const HANG_CODES = ['ERR_RESILIS_TIMEOUT', 'ERR_RESILIS_CONNECTION'];

let redis;
before(async () => { redis = await startRedis(); });
after(async () => {
  await redis?.kill('SIGCONT');
  await closeServices();
  await redis?.stop();
});

// Keys each holding a unique value, written through `svc`; read(j) checks the reply is key j's.
async function seeded(svc, n) {
  const keys = Array.from({ length: n }, (_, j) => uniqueKey(`hang-${j}`));
  const values = keys.map((k, j) => `value-${j}-${k}`);
  await Promise.all(keys.map((k, j) => svc.set(k, values[j])));
  return {
    keys,
    values,
    async read(i) {
      const j = i % n;
      const got = await svc.get(keys[j]);
      if (got !== values[j]) throw Object.assign(new Error(`get ${keys[j]} -> ${JSON.stringify(got)}, expected ${values[j]}`), { code: 'WRONG_REPLY' });
      return got;
    },
  };
}

function assertHangOutcomes(calls, what) {
  const hung = calls.filter((c) => c.hung);
  assert.equal(hung.length, 0, `${what}: ${hung.length} calls did not settle within ${BOUND} ms`);
  const wrong = calls.filter((c) => c.code === 'WRONG_REPLY');
  assert.equal(wrong.length, 0, `${what}: replies reached the wrong caller:\n${firstFailures(wrong)}`);
  const odd = calls.filter((c) => !c.ok && !(HANG_CODES.includes(c.code) && ['no', 'unknown'].includes(c.sent)));
  assert.equal(odd.length, 0, `${what}: unexpected rejections:\n${firstFailures(odd)}`);
  const timeouts = calls.filter((c) => c.code === 'ERR_RESILIS_TIMEOUT' && c.sent !== 'unknown');
  assert.equal(timeouts.length, 0, 'a timed-out command may have run: sent must be "unknown"');
}

test('SIGSTOP: every call settles within the command timeout; SIGCONT: recovery, no late reply reaches a caller, an INCR runs at most once', { timeout: 30000 }, async (t) => {
  const svc = openService(redis, { commandTimeout: COMMAND_TIMEOUT, circuitBreaker: { resetTimeout: 500 } });
  svc.on('error', () => {});
  const data = await seeded(svc, 64);
  const counter = uniqueKey('hang-incr');

  await redis.kill('SIGSTOP');
  let cont = false;
  try {
    const incr = svc.incr(counter).then((v) => ({ v }), (e) => ({ code: e.code, sent: e.sent }));
    const load = traffic((i) => data.read(i), { concurrency: 16, maxOps: 5000, boundMs: BOUND });
    await sleep(1500);
    const during = await load.stop();
    assertHangOutcomes(load.calls, 'while stopped');
    assert.ok(during.total >= 16, `only ${during.total} calls during the hang`);
    const incrOutcome = await settleWithin(incr, BOUND, 'INCR during the hang');

    await redis.kill('SIGCONT');
    cont = true;
    const contAt = Date.now();
    // right after CONT the stalled server answers everything it had buffered, on the old sockets
    const late = traffic((i) => data.read(i), { concurrency: 16, maxOps: 20000, boundMs: BOUND });
    await sleep(1500);
    const afterCont = await late.stop();
    assertHangOutcomes(late.calls, 'after SIGCONT');
    t.diagnostic(`while stopped: ${JSON.stringify(during)}; INCR: ${JSON.stringify(incrOutcome)}; after SIGCONT: ${JSON.stringify(afterCont)}`);
    assert.ok(afterCont.ok > 0, `no call succeeded within 1.5 s of SIGCONT: ${JSON.stringify(afterCont.codes)}`);

    assert.ok(await eventually(() => svc.isConnected, 5000), `isConnected false ${Date.now() - contAt} ms after SIGCONT`);
    const key = uniqueKey('hang-after');
    assert.equal(await settleWithin(svc.set(key, 'fresh'), BOUND, 'set after recovery'), 'OK');
    assert.ok(await eventually(async () => (await redis.cli('get', key)) === 'fresh', 3000, 100), 'a write after recovery did not reach Redis');
    await sleep(500); // a replay, if the INCR was journalled, would have run by now
    const count = Number((await redis.cli('get', counter)) || 0);
    assert.ok(count <= 1, `one INCR (outcome ${JSON.stringify(incrOutcome)}) ran ${count} times`);
  } finally {
    if (!cont) await redis.kill('SIGCONT');
  }
});

// The blackhole runs wholly inside a fresh network namespace: redis-server and the client (a child
// node) on its loopback, the DROP rule on its INPUT chain, so nothing but loopback is used.
const BLACKHOLE_CHILD = (faultsUrl) => `
import { execFileSync } from 'node:child_process';
import { traffic } from ${JSON.stringify(faultsUrl)};
const [port, timeout] = process.argv.slice(2).map(Number);
const rule = (op) => execFileSync('iptables', [op, 'INPUT', '-p', 'tcp', '--dport', String(port), '-j', 'DROP']);
const svc = resilis.createRedisService({ url: 'redis://127.0.0.1:' + port, commandTimeout: timeout, circuitBreaker: { resetTimeout: 500 } });
svc.on('error', () => {});
const n = 64;
const keys = Array.from({ length: n }, (_, j) => 'bh:' + j + ':' + process.pid);
const values = keys.map((k, j) => 'value-' + j + '-' + Math.random());
await Promise.all(keys.map((k, j) => svc.set(k, values[j])));
const read = async (i) => {
  const got = await svc.get(keys[i % n]);
  if (got !== values[i % n]) throw Object.assign(new Error('got ' + got + ' for ' + keys[i % n]), { code: 'WRONG_REPLY' });
  return got;
};
const strip = (calls) => calls.map(({ value, ...c }) => c);
rule('-A');
const during = traffic(read, { concurrency: 16, maxOps: 5000, boundMs: timeout + 1000 });
await sleep(2000);
await during.stop();
rule('-D');
const healed = traffic(read, { concurrency: 16, maxOps: 40000, boundMs: timeout + 1000 });
await sleep(4000);
await healed.stop();
// recovered means served by Redis again, not by a fallback
const connectedAt = Date.now();
while (!svc.isConnected && Date.now() - connectedAt < 8000) await sleep(50);
const fresh = 'bh:fresh:' + process.pid;
const wrote = await svc.set(fresh, 'fresh').catch((e) => e.code);
console.log(JSON.stringify({ during: strip(during.calls), healed: strip(healed.calls), connected: svc.isConnected, fresh, wrote }));
await svc.disconnect();
`;

const netnsReason = await netnsUnavailable();

test('a blackholed connection (iptables DROP in a network namespace): calls settle within the timeout; after healing, recovery and no late reply reaches a caller',
  { skip: netnsReason || false, timeout: 60000 }, async (t) => {
    const ns = await createNetns();
    let server;
    try {
      server = await redisInNetns(ns, 6390);
      const file = await writeScript('blackhole', BLACKHOLE_CHILD(new URL('./harness/faults.mjs', import.meta.url).href));
      const res = await runNodeInNetns(ns, file, [server.port, COMMAND_TIMEOUT], { timeout: 40000 });
      assert.equal(res.code, 0, `child failed (${res.code}): ${res.stderr}`);
      const out = lastJson(res.stdout);
      const codes = (calls) => calls.reduce((m, c) => ({ ...m, [c.ok ? 'ok' : c.code]: (m[c.ok ? 'ok' : c.code] || 0) + 1 }), {});
      t.diagnostic(`while blackholed: ${JSON.stringify(codes(out.during))}; after healing: ${JSON.stringify(codes(out.healed))}`);
      assert.ok(out.during.length >= 16, `only ${out.during.length} calls during the blackhole`);
      assertHangOutcomes(out.during, 'while blackholed');
      assertHangOutcomes(out.healed, 'after healing');
      assert.ok(out.healed.some((c) => c.ok), 'no call succeeded within 4 s of healing');
      const tail = out.healed.slice(-32);
      assert.ok(tail.every((c) => c.ok), `not recovered at the end of 4 s after healing:\n${firstFailures(tail)}`);
      assert.equal(out.connected, true, 'isConnected still false 8 s after healing');
      assert.equal(out.wrote, 'OK');
      const inRedis = () => ns.exec(REDIS_CLI, ['-p', String(server.port), 'get', out.fresh]).then((r) => r.stdout.trim());
      assert.ok(await eventually(async () => (await inRedis()) === 'fresh', 3000, 100), 'a write after healing did not reach Redis');
    } finally {
      await server?.stop();
      await ns.destroy();
    }
  });
