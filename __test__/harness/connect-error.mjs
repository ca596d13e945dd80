// A connect that must fail: in a child configured by env alone, with a short connect timeout. The failure
// has to come within that timeout, name its cause (not a bare timeout) and never show a secret.
import assert from 'node:assert/strict';
import { runService } from './child.mjs';

/**
 * expectConnectError(env, { timeoutMs = 2000, secrets = [] }) -> { code, message, stack }
 * Sets REDIS_ENABLED=true (no silent memory mode) and REDIS_CONNECT_TIMEOUT=timeoutMs, then connect() + ping().
 */
export async function expectConnectError(env, { timeoutMs = 2000, secrets = [] } = {}) {
  const res = await runService(
    { REDIS_ENABLED: 'true', REDIS_CONNECT_TIMEOUT: String(timeoutMs), ...env },
    'await svc.connect(); return await svc.ping();',
  );
  assert.ok(res.error, `connected although it should not: ${JSON.stringify(res.value)}`);
  const { message, stack } = res.error;
  for (const secret of secrets) {
    assert.ok(!message.includes(secret) && !stack.includes(secret), `the error shows a secret: ${message}`);
    assert.ok(!res.stderr.includes(secret) && !res.stdout.includes(secret), 'the output shows a secret');
  }
  assert.ok(res.ms < timeoutMs, `the error came after ${res.ms} ms, not within the connect timeout (${timeoutMs} ms): ${message}`);
  assert.ok(!/could not connect to Redis within/.test(message), `a bare timeout, not the cause: ${message}`);
  return res.error;
}
