// Issue 21: tracing channels (node:diagnostics_channel TracingChannel 'resilis:command' and
// 'resilis:batch', node-redis' payload shapes) and the audit hook, against a real redis-server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import dc from 'node:diagnostics_channel';
import { setImmediate as turn } from 'node:timers/promises';
import { startRedis } from './harness/redis.mjs';
import { openService, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const servers = [];
const OPTIONS = { commandTimeout: 500, connectTimeout: 300, circuitBreaker: { resetTimeout: 500 } };

after(async () => {
  await closeServices();
  for (const s of servers) await s.stop();
});

async function redis(opts) {
  const s = await startRedis(opts);
  servers.push(s);
  return s;
}

// Every event of a tracing channel as [event, context], while `fn` runs (then unsubscribed).
async function recording(name, fn) {
  const events = [];
  const ch = dc.tracingChannel(name);
  const handlers = {};
  for (const ev of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) handlers[ev] = (ctx) => events.push([ev, ctx]);
  ch.subscribe(handlers);
  try {
    await fn(events);
  } finally {
    ch.unsubscribe(handlers);
  }
  return events;
}

const contexts = (events, ev = 'start') => events.filter(([e]) => e === ev).map(([, c]) => c);

test('a GET is start, end, asyncStart, asyncEnd on resilis:command with the node-redis shape; no argument values', async () => {
  const server = await redis();
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('t');
  await svc.set(key, 'secret-value');
  const events = await recording('resilis:command', () => svc.get(key));
  assert.deepEqual(events.map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd']);
  const ctx = events[0][1];
  assert.equal(ctx.command, 'GET');
  assert.deepEqual(ctx.args, ['GET']);
  assert.equal(ctx.serverAddress, '127.0.0.1');
  assert.equal(ctx.serverPort, server.port);
  assert.equal(ctx.database, 0);
  assert.equal(typeof ctx.clientId, 'string');
  assert.equal(ctx.keyCount, 1);
  assert.equal(ctx.topology, 'standalone');
  assert.equal(ctx.source, 'redis');
  assert.equal(ctx.breakerState, 'closed');
  assert.equal(ctx.result, 'secret-value');
  assert.ok(!JSON.stringify(ctx.args).includes('secret-value'));
});

test('includeArgs: values appear, AUTH arguments never do', async () => {
  const password = 'pw-' + uniqueKey('s');
  const server = await redis({ password });
  const svc = openService(server, { ...OPTIONS, password, trace: { includeArgs: true } });
  const key = uniqueKey('a');
  const events = await recording('resilis:command', async () => {
    await svc.set(key, 'v1');
    await svc.call('auth', password);
    await svc.mget(key, key + 'x');
  });
  const starts = contexts(events);
  assert.deepEqual(starts[0].args, ['SET', key, 'v1']);
  assert.deepEqual(starts[1].args, ['AUTH', '?']);
  assert.equal(starts[2].keyCount, 2);
  assert.ok(!JSON.stringify(events.map(([, c]) => ({ ...c, result: undefined }))).includes(password));
});

test('a pipeline and a transaction are one resilis:batch each; their commands carry batchMode and batchSize', async () => {
  const server = await redis();
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('p');
  let commands;
  const batches = await recording('resilis:batch', async () => {
    commands = await recording('resilis:command', async () => {
      await svc.pipeline([{ command: 'set', args: [key, '1'] }, { command: 'incr', args: [key] }]);
      await svc.multi().incr(key).get(key).exec();
    });
  });
  const b = contexts(batches);
  assert.deepEqual(b.map((c) => [c.batchMode, c.batchSize]), [['PIPELINE', 2], ['MULTI', 2]]);
  assert.deepEqual(contexts(batches, 'asyncEnd').length, 2);
  const c = contexts(commands);
  assert.deepEqual(c.map((x) => [x.command, x.batchMode, x.batchSize]), [
    ['SET', 'PIPELINE', 2], ['INCR', 'PIPELINE', 2], ['INCR', 'MULTI', 2], ['GET', 'MULTI', 2],
  ]);
  assert.equal(contexts(commands, 'asyncEnd')[1].result, 2);
});

test("commands of one tick are an 'AUTO' batch; an error reply is published on error", async () => {
  const server = await redis();
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('e');
  await svc.set(key, 'not a number');
  let commands;
  const batches = await recording('resilis:batch', async () => {
    commands = await recording('resilis:command', () =>
      Promise.allSettled([svc.get(key), svc.incr(key), svc.get(key)]));
  });
  assert.deepEqual(contexts(batches).map((c) => [c.batchMode, c.batchSize]), [['AUTO', 3]]);
  assert.equal(contexts(batches, 'error').length, 1, 'the batch holds a failed command');
  const errors = contexts(commands, 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0].command, 'INCR');
  assert.match(errors[0].error.message, /not an integer/);
});

test('during an outage a journalled write and a read say fallback, with the state of their own breaker', async () => {
  const server = await redis();
  const entries = [];
  const svc = openService(server, { ...OPTIONS, audit: (e) => entries.push(e) });
  const key = uniqueKey('f');
  await svc.set(key, '1');
  await server.kill('SIGKILL');
  assert.ok(await eventually(async () => {
    await svc.incr(key + ':probe').catch(() => {});
    return (await svc.getStats()).degraded;
  }, 10000), 'eventually');
  const events = await recording('resilis:command', async () => {
    await svc.set(key, '2');
    await svc.get(key);
  });
  const [set, get] = contexts(events, 'asyncEnd');
  assert.equal(set.command, 'SET');
  assert.equal(set.source, 'fallback', 'journalled');
  assert.ok((await svc.getStats()).replay.pending >= 1, 'in the journal');
  // Degraded: the service sends nothing; the GET's own breaker had seen no failure yet.
  assert.deepEqual([get.source, get.breakerState, get.result], ['fallback', 'closed', '2']);
  await turn();
  const audited = entries.filter((e) => e.command === 'set' && e.keys[0] === key);
  assert.deepEqual(audited.map((e) => [e.source, e.ok]), [['redis', true], ['fallback', true]]);
});

test('a read that times out is served by the fallback while the service is not degraded', async () => {
  const server = await redis();
  const svc = openService(server, { ...OPTIONS, commandTimeout: 200 });
  const key = uniqueKey('to');
  await svc.set(key, 'v');
  const fallbackEvents = [];
  svc.on('fallback', (e) => fallbackEvents.push(e));
  await server.cli('CLIENT', 'PAUSE', '1000', 'ALL');
  const events = await recording('resilis:command', () => svc.get(key));
  const ctx = contexts(events, 'asyncEnd')[0];
  assert.deepEqual([ctx.source, ctx.breakerState], ['fallback', 'closed']);
  assert.equal(ctx.error, undefined);
  assert.deepEqual(fallbackEvents, [], 'one timeout does not degrade the service');
  assert.equal((await svc.getStats()).degraded, false);
});

test("a half-open breaker's trial says redis, the call beside it fallback; both half-open", async () => {
  const server = await redis();
  const svc = openService(server, { ...OPTIONS, circuitBreaker: { resetTimeout: 60000 }, reconnect: { minDelay: 50, maxDelay: 200 } });
  const key = uniqueKey('h');
  await svc.set(key, 'v');
  await server.kill('SIGKILL');
  // Degraded: every GET counts as a failure of redis-get until it opens.
  assert.ok(await eventually(async () => {
    await svc.get(key).catch(() => {});
    return svc.getCircuitBreakerMetrics('redis-get').state === 'open';
  }, 10000), 'redis-get opened');
  await server.restart();
  // The recovery probe reached Redis: out of degraded mode, open breakers let a trial through.
  assert.ok(await eventually(async () => !(await svc.getStats()).degraded, 10000), 'recovered');
  assert.equal(svc.getCircuitBreakerMetrics('redis-get').state, 'half-open');
  const events = await recording('resilis:command', () => Promise.all([svc.get(key), svc.get(key + ':other')]));
  const [trial, beside] = contexts(events, 'asyncEnd');
  assert.deepEqual([trial.source, trial.breakerState], ['redis', 'half-open']);
  assert.deepEqual([beside.source, beside.breakerState], ['fallback', 'half-open'], 'one trial at a time');
  assert.equal(svc.getCircuitBreakerMetrics('redis-get').state, 'closed', 'the trial closed it');
  const after = await recording('resilis:command', () => svc.get(key));
  assert.deepEqual([contexts(after, 'asyncEnd')[0].source, contexts(after, 'asyncEnd')[0].breakerState], ['redis', 'closed']);
});

test("a GET answered by the near cache says source 'near-cache'", async () => {
  const server = await redis();
  const svc = openService(server, { ...OPTIONS, nearCache: true });
  const key = uniqueKey('n');
  await svc.set(key, 'near');
  await svc.get(key); // a miss: fills the near cache
  let ctx;
  assert.ok(await eventually(async () => {
    const events = await recording('resilis:command', () => svc.get(key));
    ctx = contexts(events, 'asyncEnd')[0];
    return ctx && ctx.source === 'near-cache';
  }, 5000), `the last GET came from ${ctx && ctx.source}`);
  assert.equal(ctx.command, 'GET');
  assert.equal(ctx.result, 'near');
  assert.equal(ctx.breakerState, null, 'no breaker was asked');
});

test("a read the core answers from its near cache says 'near-cache'; a pipeline's commands each say who served them", async () => {
  const server = await redis();
  const svc = openService(server, { ...OPTIONS, nearCache: true });
  const key = uniqueKey('nh');
  await svc.hset(key, 'f', 'v');
  let ctx;
  assert.ok(await eventually(async () => {
    const events = await recording('resilis:command', () => svc.hget(key, 'f'));
    ctx = contexts(events, 'asyncEnd')[0];
    return ctx && ctx.source === 'near-cache';
  }, 5000), `the last HGET came from ${ctx && ctx.source}`);
  assert.deepEqual([ctx.command, ctx.result, ctx.breakerState], ['HGET', 'v', null]);
  let commands;
  const batches = await recording('resilis:batch', async () => {
    commands = await recording('resilis:command', () =>
      svc.pipeline([{ command: 'hget', args: [key, 'f'] }, { command: 'set', args: [key + ':s', '1'] }]));
  });
  const c = contexts(commands, 'asyncEnd');
  assert.deepEqual(c.map((x) => [x.command, x.source, x.breakerState]), [['HGET', 'near-cache', null], ['SET', 'redis', 'closed']]);
  assert.equal(contexts(batches, 'asyncEnd')[0].source, null, 'mixed sources');
});

test('with nobody subscribed and no audit hook, commands carry no record', async () => {
  const server = await redis();
  const svc = openService(server, OPTIONS);
  // subscribe and unsubscribe first: hasSubscribers goes back to false
  await recording('resilis:command', () => svc.ping());
  const p = svc.get(uniqueKey('z'));
  assert.equal(svc._dispatcher.watched, false);
  for (const entry of svc._dispatcher.pending.values()) assert.equal(entry.obs, null);
  await p;
});

test('audit: every write, off the hot path, with keys, source, ok, durationMs; reads only when asked', async () => {
  const server = await redis();
  const entries = [];
  const svc = openService(server, { ...OPTIONS, audit: (e) => entries.push(e) });
  const key = uniqueKey('au');
  const pending = svc.set(key, 'v');
  await svc.get(key);
  await pending;
  await svc.incr(key).catch(() => {});
  await svc.mset(key + '1', 'a', key + '2', 'b');
  await turn();
  assert.deepEqual(entries.map((e) => [e.command, e.keys, e.source, e.ok]), [
    ['set', [key], 'redis', true],
    ['incr', [key], 'redis', false],
    ['mset', [key + '1', key + '2'], 'redis', true],
  ]);
  for (const e of entries) {
    assert.equal(typeof e.time, 'number');
    assert.ok(e.durationMs >= 0);
  }
  assert.match(entries[1].error.message, /not an integer/);
  await svc.set(key, 'w');
  assert.equal(entries.length, 3, 'an entry arrives on a later turn, not inside the call');
  await turn();
  assert.equal(entries.length, 4);

  const reads = [];
  const withReads = (e) => reads.push(e);
  withReads.reads = true;
  const svc2 = openService(server, { ...OPTIONS, audit: withReads });
  await svc2.get(key);
  await turn();
  assert.deepEqual(reads.map((e) => e.command), ['get']);
});

test('audit queue: bounded (maxQueue), the overflow counted as auditDropped in getStats() and metrics()', async () => {
  const server = await redis();
  const entries = [];
  const svc = openService(server, { ...OPTIONS, audit: { handler: (e) => entries.push(e), maxQueue: 5 } });
  const key = uniqueKey('q');
  await Promise.all(Array.from({ length: 20 }, (_, i) => svc.set(`${key}:${i}`, 'v')));
  await turn();
  assert.equal(entries.length, 5);
  const stats = await svc.getStats();
  assert.equal(stats.auditDropped, 15);
  assert.match(await svc.metrics(), /^resilis_audit_dropped_total 15$/m);
});

test('resilis:connect: each connection opened (the pool, the lane) and each that failed, with node-redis\' connect shape', async () => {
  const password = 'pw-' + uniqueKey('c');
  const server = await redis({ password });
  let svc;
  const events = await recording('resilis:connect', async () => {
    svc = openService(server, { ...OPTIONS, password, lazyConnect: true });
    await svc.connect();
    await svc.get(uniqueKey('c'));
  });
  const done = contexts(events, 'asyncEnd');
  assert.deepEqual(done.map((c) => c.connection).sort(), ['lane', 'pool']);
  for (const c of done) {
    assert.deepEqual([c.serverAddress, c.serverPort, c.error], ['127.0.0.1', server.port, undefined]);
    assert.equal(typeof c.clientId, 'string');
    assert.ok(c.durationMs >= 0);
    assert.deepEqual(events.filter(([, x]) => x === c).map(([e]) => e), ['start', 'end', 'asyncStart', 'asyncEnd']);
  }
  assert.ok(!JSON.stringify(events).includes(password));

  // Redis restarts: the lane the recovery opens is published too.
  const again = await recording('resilis:connect', async (seen) => {
    await server.restart();
    assert.ok(await eventually(async () => {
      await svc.get(uniqueKey('c')).catch(() => {});
      const opened = contexts(seen, 'asyncEnd').filter((c) => !c.error).map((c) => c.connection);
      return opened.includes('lane') && opened.includes('pool');
    }, 10000), 'the lane and the pool reconnected');
  });
  for (const c of contexts(again, 'asyncEnd')) assert.equal(c.serverPort, server.port);

  // A refused password: the attempt is published on error, the password nowhere.
  const refused = await recording('resilis:connect', async () => {
    const wrong = openService(server, { ...OPTIONS, password: 'not-' + password, lazyConnect: true });
    await assert.rejects(wrong.connect());
  });
  const [failed] = contexts(refused, 'error');
  assert.equal(failed.connection, 'pool');
  assert.match(failed.error.code, /^ERR_RESILIS_/);
  assert.ok(!JSON.stringify(refused.map(([, c]) => ({ ...c, error: c.error && c.error.message }))).includes(password));
});
