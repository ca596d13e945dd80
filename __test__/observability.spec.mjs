// Issue 21: the logger option (every message resilis prints goes through it, structured, without
// secrets; REDIS_LOG_LEVEL filters) and Prometheus metrics (service.metrics() and metricsRouter()),
// read back with a strict parser of the text exposition format.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import { startRedis } from './harness/redis.mjs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { loadResilis, repoRoot } from './harness/package.mjs';
import { openService, openServiceFromEnv, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';
import { serve, closeAll } from './harness/http.mjs';
import { parseExposition } from './harness/prometheus.mjs';
import { freePort } from './harness/ports.mjs';

const resilis = loadResilis();
const servers = [];
const OPTIONS = { commandTimeout: 500, connectTimeout: 300, circuitBreaker: { resetTimeout: 500 } };

after(async () => {
  await closeAll();
  await closeServices();
  for (const s of servers) await s.stop();
});

function recordingLogger() {
  const lines = [];
  const at = (level) => (fields, msg) => lines.push({ level, fields, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

// Calls until one is served from the fallback (the outage has been noticed).
async function untilDegraded(svc, key) {
  assert.ok(await eventually(async () => {
    await svc.set(key, 'v').catch(() => {});
    return (await svc.getStats()).degraded;
  }, 10000), 'eventually');
}

test('an outage and the recovery are logged through options.logger, structured, without the password', async () => {
  const password = 'pw-' + uniqueKey('secret');
  const server = await startRedis({ password });
  servers.push(server);
  const { lines, logger } = recordingLogger();
  const svc = openService(server, { ...OPTIONS, password, logger });
  const key = uniqueKey('log');
  await svc.set(key, '1');
  await server.kill('SIGKILL');
  await untilDegraded(svc, key);
  assert.ok(await eventually(() => lines.some((l) => l.level === 'warn' && l.fields.event === 'fallback'), 5000), 'a fallback warning');
  const warn = lines.find((l) => l.level === 'warn' && l.fields.event === 'fallback');
  assert.equal(warn.fields.active, true);
  assert.equal(typeof warn.fields.reason, 'string');
  assert.match(warn.msg, /serving from the in-memory fallback/);
  await server.restart();
  assert.ok(await eventually(async () => {
    await svc.get(key).catch(() => {});
    return lines.some((l) => l.level === 'info' && l.fields.event === 'fallback' && l.fields.active === false);
  }, 15000), 'eventually');
  assert.ok(!JSON.stringify(lines).includes(password), 'a log line holds the password');
});

test('the memory-mode notices go through options.logger too: enabled false (info), and no Redis at the first connect in development (warn)', async () => {
  const off = recordingLogger();
  const memory = openServiceFromEnv({ REDIS_ENABLED: 'false' }, { logger: off.logger });
  assert.equal(await memory.set(uniqueKey('mem'), 'v'), 'OK');
  const notice = off.lines.find((l) => l.fields && l.fields.event === 'memoryMode');
  assert.equal(notice && notice.level, 'info');
  assert.match(notice.msg, /REDIS_ENABLED=false: serving every command from the in-memory store/);

  const dev = recordingLogger();
  const port = await freePort(); // nothing listens there
  const svc = openServiceFromEnv(
    { NODE_ENV: 'development', REDIS_URL: `redis://:hunter2@127.0.0.1:${port}` },
    { ...OPTIONS, logger: dev.logger },
  );
  assert.equal(await svc.set(uniqueKey('dev'), 'v'), 'OK');
  const warn = dev.lines.find((l) => l.fields && l.fields.event === 'memoryMode');
  assert.equal(warn && warn.level, 'warn', JSON.stringify(dev.lines));
  assert.match(warn.msg, new RegExp(`no Redis reachable at 127\\.0\\.0\\.1:${port} .*serving from the in-memory store`));
  assert.equal(warn.fields.target, `127.0.0.1:${port}`);
  assert.ok(!JSON.stringify(dev.lines).includes('hunter2'), 'the password reached the log');
});

test('REDIS_LOG_LEVEL=error keeps warnings out; a throwing logger does not break commands', async () => {
  const server = await startRedis();
  servers.push(server);
  const { lines, logger } = recordingLogger();
  const quiet = openServiceFromEnv({ REDIS_URL: server.url, REDIS_LOG_LEVEL: 'error' }, { ...OPTIONS, logger });
  let thrown = 0;
  const throwing = {
    warn: () => {
      thrown++;
      throw new Error('logger broke');
    },
  };
  const loud = openService(server, { ...OPTIONS, logger: throwing });
  const key = uniqueKey('lvl');
  await quiet.set(key, '1');
  await loud.set(key, '1');
  await server.kill('SIGKILL');
  await untilDegraded(quiet, key);
  await untilDegraded(loud, key);
  assert.ok(await eventually(() => thrown > 0, 5000), 'the throwing logger was called');
  assert.equal(await loud.get(key), 'v', 'the fallback serves the write made during the outage');
  assert.deepEqual(lines, []);
});

test('metrics() is the Prometheus text format: commands and failures by operation, breaker state, degraded, fallback, journal', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  const key = uniqueKey('m');
  await svc.set(key, 'a');
  await svc.get(key);
  await svc.get(key);
  let m = parseExposition(await svc.metrics());
  assert.equal(m.types.resilis_commands_total, 'counter');
  assert.ok(m.value('resilis_commands_total') >= 3);
  assert.ok(m.value('resilis_operation_requests_total', { operation: 'redis-get' }) >= 2);
  assert.ok(m.value('resilis_operation_requests_total', { operation: 'redis-set' }) >= 1);
  assert.equal(m.value('resilis_circuit_breaker_state', { operation: 'redis-get', state: 'closed' }), 1);
  assert.equal(m.value('resilis_circuit_breaker_state', { operation: 'redis-get', state: 'open' }), 0);
  assert.equal(m.value('resilis_degraded'), 0);
  assert.equal(m.value('resilis_connected'), 1);
  assert.ok(m.value('resilis_command_latency_seconds', { quantile: '0.99' }) > 0);
  assert.equal(m.types.resilis_command_duration_seconds, 'histogram');
  assert.ok(m.value('resilis_command_duration_seconds_count') >= 3);
  assert.equal(m.value('resilis_command_duration_seconds_bucket', { le: '+Inf' }), m.value('resilis_command_duration_seconds_count'));
  assert.ok(m.value('resilis_command_duration_seconds_sum') > 0);
  assert.ok(m.value('resilis_command_duration_seconds_bucket', { le: '10' }) >= 3, 'a loopback command takes less than 10 s');

  await server.kill('SIGKILL');
  await untilDegraded(svc, key);
  await svc.set(uniqueKey('m2'), 'b');
  m = parseExposition(await svc.metrics());
  assert.equal(m.value('resilis_degraded'), 1);
  assert.ok(m.value('resilis_fallbacks_total') > 0);
  assert.ok(m.value('resilis_journal_pending') >= 1, 'outage writes wait in the journal');
  assert.ok(m.value('resilis_fallback_cache_entries') >= 1);
});

test('metricsRouter() serves /metrics over real HTTP and passes other paths on', async () => {
  const server = await startRedis();
  servers.push(server);
  const svc = openService(server, OPTIONS);
  await svc.set(uniqueKey('r'), '1');
  const { metricsRouter } = createRequire(import.meta.url)(path.join(repoRoot, 'lib', 'express.js'));
  const app = express();
  app.use(metricsRouter({ service: svc }));
  app.get('/other', (req, res) => res.send('other'));
  const base = await serve(app);
  const res = await fetch(`${base}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const m = parseExposition(await res.text());
  assert.ok(m.value('resilis_operation_requests_total', { operation: 'redis-set' }) >= 1);
  assert.equal(await (await fetch(`${base}/other`)).text(), 'other');
  assert.ok(resilis.RedisService.prototype.metrics, 'metrics() on the service');
});

test('a real pino logger receives JSON lines with the fields and the message (README example)', async () => {
  const pino = createRequire(import.meta.url)('pino');
  const server = await startRedis();
  servers.push(server);
  const lines = [];
  const stream = { write: (s) => lines.push(JSON.parse(s)) };
  const svc = openService(server, { ...OPTIONS, logger: pino({}, stream).child({ module: 'redis' }) });
  const key = uniqueKey('pino');
  await svc.set(key, '1');
  await server.kill('SIGKILL');
  await untilDegraded(svc, key);
  assert.ok(await eventually(() => lines.some((l) => l.event === 'fallback'), 5000), `a fallback line in ${JSON.stringify(lines)}`);
  const line = lines.find((l) => l.event === 'fallback');
  assert.equal(line.level, 40);
  assert.equal(line.module, 'redis');
  assert.equal(line.active, true);
  assert.match(line.msg, /^Redis unavailable \(.+\): serving from the in-memory fallback$/);
});
