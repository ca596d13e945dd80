// Pub/sub is byte-exact: a message that is not valid UTF-8 (0xff 0x00 0xc3 ...) arrives unchanged
// as a Buffer through ioredis' 'messageBuffer' / 'pmessageBuffer' / 'smessageBuffer' events and
// node-redis' bufferMode listeners (`subscribe(channel, listener, true)`), whoever published it
// (publish(Buffer) here, or redis-cli); string listeners on the same channel keep getting strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from './harness/cli.mjs';
import { useService } from './harness/suite.mjs';
import { remember } from './harness/service.mjs';
import { uniqueKey, settleWithin, eventually } from './harness/util.mjs';

const ctx = useService();

const BYTES = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x80, 0x61]);

/** Collects calls; `upTo(n)` waits until n have arrived. */
function recorder() {
  const calls = [];
  const fn = (...args) => calls.push(args);
  fn.calls = calls;
  fn.upTo = (n) => settleWithin(eventually(() => calls.length >= n, 5000, 10), 5500, `${n} messages`).then(() => calls);
  return fn;
}

/** A subscriber of its own (as a subscriber connection is used in practice). */
function subscriber() {
  return remember(ctx.svc.duplicate());
}

test('publish(Buffer) arrives byte-exact through "messageBuffer"; "message" still gets a string', async () => {
  const sub = subscriber();
  const channel = uniqueKey('bin');
  const buffers = recorder();
  const strings = recorder();
  sub.on('messageBuffer', buffers);
  sub.on('message', strings);
  await sub.subscribe(channel);
  assert.equal(await ctx.svc.publish(channel, BYTES), 1);
  const [[c, m]] = await buffers.upTo(1);
  assert.ok(Buffer.isBuffer(c) && Buffer.isBuffer(m), 'channel and message are Buffers');
  assert.equal(c.toString(), channel);
  assert.deepEqual(m, BYTES);
  const [[sc, sm]] = await strings.upTo(1);
  assert.equal(sc, channel);
  assert.equal(sm, BYTES.toString('utf8'));
  await sub.disconnect();
});

test('bytes published by another client (redis-cli) arrive unchanged; a bufferMode listener gets Buffers', async () => {
  const sub = subscriber().getClient();
  const channel = uniqueKey('bin-cli');
  const inBuffers = recorder();
  const inStrings = recorder();
  await sub.subscribe(channel, inBuffers, true);
  await sub.subscribe(channel, inStrings);
  assert.equal(await runCli(ctx.redis.port, ['-x', 'publish', channel], { input: BYTES }), '1');
  const [[m, c]] = await inBuffers.upTo(1);
  assert.deepEqual(m, BYTES);
  assert.deepEqual(c, Buffer.from(channel));
  const [[sm, sc]] = await inStrings.upTo(1);
  assert.equal(typeof sm, 'string');
  assert.equal(sc, channel);
  // Unsubscribing the bufferMode listener (with its flag) leaves the string one.
  assert.equal(await sub.unsubscribe(channel, inBuffers, true), 1);
  assert.equal(await ctx.svc.publish(channel, BYTES), 1);
  await inStrings.upTo(2);
  assert.equal(inBuffers.calls.length, 1);
  await sub.destroy();
});

test('pSubscribe in bufferMode and "pmessageBuffer" (pattern as a string, as in ioredis)', async () => {
  const svc = subscriber();
  const prefix = uniqueKey('pbin');
  const listener = recorder();
  const events = recorder();
  svc.on('pmessageBuffer', events);
  await svc.getClient().pSubscribe(`${prefix}*`, listener, true);
  assert.equal(await ctx.svc.publish(`${prefix}.x`, BYTES), 1);
  const [[m, c]] = await listener.upTo(1);
  assert.deepEqual(m, BYTES);
  assert.deepEqual(c, Buffer.from(`${prefix}.x`));
  const [[p, ec, em]] = await events.upTo(1);
  assert.equal(p, `${prefix}*`);
  assert.deepEqual(ec, Buffer.from(`${prefix}.x`));
  assert.deepEqual(em, BYTES);
  await svc.disconnect();
});

test('sSubscribe in bufferMode, "smessageBuffer" and spublish(Buffer)', async () => {
  const svc = subscriber();
  const channel = uniqueKey('sbin');
  const listener = recorder();
  const events = recorder();
  svc.on('smessageBuffer', events);
  await svc.getClient().sSubscribe(channel, listener, true);
  assert.equal(await ctx.svc.getClient().sPublish(channel, BYTES), 1);
  const [[m, c]] = await listener.upTo(1);
  assert.deepEqual(m, BYTES);
  assert.deepEqual(c, Buffer.from(channel));
  const [[ec, em]] = await events.upTo(1);
  assert.deepEqual(ec, Buffer.from(channel));
  assert.deepEqual(em, BYTES);
  await svc.disconnect();
});

test('listeners of either form come and go: each message reaches the forms listened for then', async () => {
  const svc = subscriber();
  const channel = uniqueKey('forms');
  const strings = recorder();
  await svc.subscribe(channel, strings);
  await ctx.svc.publish(channel, 'one');
  await strings.upTo(1);
  const buffers = recorder();
  svc.on('messageBuffer', buffers);
  await ctx.svc.publish(channel, BYTES);
  await strings.upTo(2);
  assert.deepEqual((await buffers.upTo(1))[0][1], BYTES);
  svc.off('messageBuffer', buffers);
  await ctx.svc.publish(channel, 'three');
  assert.deepEqual((await strings.upTo(3)).map((c) => c[0]), ['one', BYTES.toString(), 'three']);
  assert.equal(buffers.calls.length, 1);
  await svc.disconnect();
});

test('removeAllListeners() does not stop the service from following its message listeners', async () => {
  const svc = subscriber();
  const channel = uniqueKey('rm-all');
  await svc.subscribe(channel);
  svc.removeAllListeners();
  await new Promise((resolve) => process.nextTick(resolve));
  const buffers = recorder();
  svc.on('messageBuffer', buffers);
  await ctx.svc.publish(channel, BYTES);
  assert.deepEqual((await buffers.upTo(1))[0][1], BYTES);
  await svc.disconnect();
});
