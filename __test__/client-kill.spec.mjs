// Connections killed under load (issue 4, FAULTS.md "kill connections", "nothing lost"): while
// `CLIENT KILL TYPE normal` runs in a loop, INCR and RPUSH of unique ids run 16 in flight. Every
// call settles once; nothing acknowledged is lost; nothing is executed twice; a command rejected
// as not sent did not run; and no reply reaches another caller.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';
import { traffic, firstFailures } from './harness/faults.mjs';

const COMMAND_TIMEOUT = 2000;
const BOUND = COMMAND_TIMEOUT + 1500;

let redis;
let run;

before(async () => {
  redis = await startRedis();
  const svc = openService(redis, { commandTimeout: COMMAND_TIMEOUT });
  svc.on('error', () => {});
  const counter = uniqueKey('kill-incr');
  const list = uniqueKey('kill-list');
  const tag = uniqueKey('echo');
  await svc.ping();

  // i % 3: 0 INCR, 1 RPUSH of id i, 2 ECHO of a unique token (a reply that can only be its own)
  const op = async (i) => {
    if (i % 3 === 0) return svc.incr(counter);
    if (i % 3 === 1) return svc.rpush(list, `id:${i}`);
    const token = `${tag}:${i}`;
    const got = await svc.call('ECHO', token);
    if (got !== token) throw Object.assign(new Error(`ECHO ${token} -> ${got}`), { code: 'WRONG_REPLY' });
    return got;
  };
  const load = traffic(op, { concurrency: 16, maxOps: 60000, boundMs: BOUND, pauseMs: 1 });
  let killed = 0;
  let kills = 0;
  for (const end = Date.now() + 3000; Date.now() < end; kills++) {
    killed += Number(await redis.cli('client', 'kill', 'type', 'normal')) || 0;
    await sleep(100);
  }
  await sleep(300); // calls in flight at the last kill settle, new ones run on fresh connections
  const summary = await load.stop();
  // anything the library journalled while its connections were down is replayed by now
  await eventually(async () => (await svc.set(uniqueKey('probe'), '1').catch(() => null)) === 'OK', 5000, 100);
  await sleep(500);
  const stored = (await redis.cli('lrange', list, '0', '-1')).split('\n').filter(Boolean);
  const counted = Number((await redis.cli('get', counter)) || 0);
  // CLIENT KILL storms can open a breaker: the fallback then answers from memory (and journals)
  const { fallbacks } = await svc.getStats();
  run = { svc, summary, calls: load.calls, killed, kills, stored, counted, fallbacks };
}, { timeout: 30000 });

after(async () => {
  await closeServices();
  await redis?.stop();
});

const byOp = (k) => run.calls.filter((c) => c.i % 3 === k);

test('every call settles within its deadline while connections are killed', (t) => {
  t.diagnostic(`${run.kills} CLIENT KILLs closed ${run.killed} connections; calls: ${JSON.stringify(run.summary)}`);
  assert.ok(run.killed > 0, 'CLIENT KILL closed no connection: the fault was not injected');
  assert.equal(run.summary.hung, 0, `${run.summary.hung} calls did not settle within ${BOUND} ms\n${firstFailures(run.calls)}`);
  assert.ok(run.summary.ok > 100, `only ${run.summary.ok} calls succeeded`);
  const bad = run.calls.filter((c) => !c.ok && c.code !== 'ERR_RESILIS_CONNECTION' && c.code !== 'ERR_RESILIS_TIMEOUT');
  assert.equal(bad.length, 0, `unexpected rejections:\n${firstFailures(bad)}`);
  const unsaid = run.calls.filter((c) => !c.ok && !['no', 'unknown'].includes(c.sent));
  assert.equal(unsaid.length, 0, `a connection error must say whether the command was sent:\n${firstFailures(unsaid)}`);
});

test('no reply reaches another caller (ECHO of unique tokens, distinct INCR replies)', () => {
  const wrong = run.calls.filter((c) => c.code === 'WRONG_REPLY');
  assert.equal(wrong.length, 0, firstFailures(wrong));
  const replies = byOp(0).filter((c) => c.ok).map((c) => c.value);
  // Redis' INCR replies are all distinct; one the fallback gave from its copy of the counter may
  // repeat one of Redis' (the increment itself is replayed once: see the INCR test below).
  const repeats = replies.length - new Set(replies).size;
  assert.ok(repeats <= run.fallbacks, `${repeats} INCR replies repeat another's, with ${run.fallbacks} calls served by the fallback`);
  assert.ok(replies.every((v) => Number.isInteger(v) && v >= 1 && v <= run.counted), `INCR replies outside 1..${run.counted}`);
});

test('RPUSH: every acknowledged id is stored, none twice, none rejected as not sent', () => {
  const present = new Map();
  for (const id of run.stored) present.set(id, (present.get(id) || 0) + 1);
  const twice = [...present].filter(([, n]) => n > 1);
  assert.equal(twice.length, 0, `ids pushed more than once: ${JSON.stringify(twice.slice(0, 5))}`);
  const pushes = byOp(1);
  const lost = pushes.filter((c) => c.ok && !present.has(`id:${c.i}`));
  assert.equal(lost.length, 0, `${lost.length} acknowledged RPUSHes are not in the list: ${lost.slice(0, 5).map((c) => c.i)}`);
  const ranAnyway = pushes.filter((c) => !c.ok && c.sent === 'no' && present.has(`id:${c.i}`));
  assert.equal(ranAnyway.length, 0, `RPUSHes rejected as not sent ran: ${ranAnyway.slice(0, 5).map((c) => c.i)}`);
  const issued = new Set(pushes.map((c) => `id:${c.i}`));
  const stray = run.stored.filter((id) => !issued.has(id));
  assert.equal(stray.length, 0, `ids in the list that were never pushed: ${stray.slice(0, 5)}`);
});

test('INCR: the counter counts every acknowledged call, and none twice', () => {
  const incrs = byOp(0);
  const acked = incrs.filter((c) => c.ok).length;
  const mayHaveRun = incrs.filter((c) => c.ok || c.sent !== 'no').length;
  assert.ok(run.counted >= acked, `counter ${run.counted} < ${acked} acknowledged INCRs: acknowledged increments lost`);
  assert.ok(run.counted <= mayHaveRun, `counter ${run.counted} > ${mayHaveRun} INCRs that may have run: an INCR ran twice`);
});
