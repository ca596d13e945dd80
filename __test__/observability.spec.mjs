// Issue 21: the logger option (every message resilis prints goes through it, structured, without
// secrets; REDIS_LOG_LEVEL filters).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRedis } from './harness/redis.mjs';
import { openService, openServiceFromEnv, closeServices } from './harness/service.mjs';
import { uniqueKey, eventually } from './harness/util.mjs';

const servers = [];
const OPTIONS = { commandTimeout: 500, connectTimeout: 300, circuitBreaker: { resetTimeout: 500 } };

after(async () => {
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
