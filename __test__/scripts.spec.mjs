// eval / evalsha: scripts really run on the server, replies are converted ioredis-style.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { useService } from './harness/suite.mjs';
import { uniqueKey, captureError, assertCode } from './harness/util.mjs';

const ctx = useService();

const RELEASE = `
  if redis.call("GET", KEYS[1]) == ARGV[1] then
    return redis.call("DEL", KEYS[1])
  else
    return 0
  end
`;

test('eval writes through KEYS/ARGV and resolves the status reply', async () => {
  const k = uniqueKey('eval-set');
  const reply = await ctx.svc.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, k, 'from-lua');
  assert.equal(reply, 'OK');
  assert.equal(await ctx.redis.cli('get', k), 'from-lua');
});

test('eval integer, nil, bulk and table replies', async () => {
  const k = uniqueKey('eval-types');
  await ctx.redis.cli('set', k, 'abc');
  assert.equal(await ctx.svc.eval('return 42', 0), 42);
  assert.equal(await ctx.svc.eval('return nil', 0), null);
  assert.equal(await ctx.svc.eval("return redis.call('GET', KEYS[1])", 1, k), 'abc');
  assert.deepEqual(await ctx.svc.eval("return {1, 'two', {3}}", 0), [1, 'two', [3]]);
  assert.deepEqual(await ctx.svc.eval('return {ARGV[1], ARGV[2]}', 0, 'x', 7), ['x', '7']);
});

test('eval compare-and-delete lock release (seed 002) deletes only on a matching token', async () => {
  const k = uniqueKey('lock');
  await ctx.redis.cli('set', k, 'token-1');
  assert.equal(await ctx.svc.eval(RELEASE, 1, k, 'wrong-token'), 0);
  assert.equal(await ctx.redis.cli('get', k), 'token-1');
  assert.equal(await ctx.svc.eval(RELEASE, 1, k, 'token-1'), 1);
  assert.equal(await ctx.redis.cli('exists', k), '0');
});

test('eval script error rejects with ERR_RESILIS_REPLY', async () => {
  const err = await captureError(() => ctx.svc.eval("return redis.error_reply('MYERR custom failure')", 0), 'eval');
  assertCode(err, 'ERR_RESILIS_REPLY');
  assert.match(err.message, /MYERR custom failure/);
});

test('evalsha runs a script loaded with redis-cli SCRIPT LOAD', async () => {
  const script = "return redis.call('INCRBY', KEYS[1], ARGV[1])";
  const sha = await ctx.redis.cli('script', 'load', script);
  assert.equal(sha, createHash('sha1').update(script).digest('hex'));
  const k = uniqueKey('evalsha');
  assert.equal(await ctx.svc.evalsha(sha, 1, k, 5), 5);
  assert.equal(await ctx.svc.evalsha(sha, 1, k, 2), 7);
  assert.equal(await ctx.redis.cli('get', k), '7');
});

test('evalsha of an unknown sha rejects with NOSCRIPT as ERR_RESILIS_REPLY', async () => {
  const err = await captureError(() => ctx.svc.evalsha('0'.repeat(40), 0), 'evalsha');
  assertCode(err, 'ERR_RESILIS_REPLY');
  assert.match(err.message, /NOSCRIPT/);
});
