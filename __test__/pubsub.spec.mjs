// publish: a real subscriber on an independent connection receives what resilis publishes,
// and publish resolves the receiver count Redis reports.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectResp } from './harness/resp.mjs';
import { useService } from './harness/suite.mjs';
import { uniqueKey, settleWithin } from './harness/util.mjs';

const subs = [];
const ctx = useService({ teardown: () => { for (const s of subs) s.close(); } });

async function subscriber(channel) {
  const sub = await connectResp(ctx.redis.port);
  subs.push(sub);
  const received = [];
  let notify;
  sub.onPush((m) => {
    received.push(m);
    notify?.();
  });
  await sub.command('subscribe', channel);
  return {
    received,
    next: () => (received.length ? Promise.resolve() : settleWithin(new Promise((r) => { notify = r; }), 10000, 'message')),
  };
}

test('publish with no subscriber resolves 0', async () => {
  assert.equal(await ctx.svc.publish(uniqueKey('chan-empty'), 'nobody listens'), 0);
});

test('publish reaches a real subscriber and resolves the receiver count', async () => {
  const channel = uniqueKey('chan');
  const s1 = await subscriber(channel);
  const s2 = await subscriber(channel);
  const payload = JSON.stringify({ message: 'Hello!' });
  assert.equal(await ctx.svc.publish(channel, payload), 2);
  await s1.next();
  await s2.next();
  assert.deepEqual(s1.received, [['message', channel, payload]]);
  assert.deepEqual(s2.received, [['message', channel, payload]]);
});

test('publish preserves message order', async () => {
  const channel = uniqueKey('chan-order');
  const s = await subscriber(channel);
  for (let i = 0; i < 20; i++) assert.equal(await ctx.svc.publish(channel, `m${i}`), 1);
  await settleWithin((async () => {
    while (s.received.length < 20) await new Promise((r) => setTimeout(r, 20));
  })(), 10000, '20 messages');
  assert.deepEqual(s.received.map((m) => m[2]), Array.from({ length: 20 }, (_, i) => `m${i}`));
});
