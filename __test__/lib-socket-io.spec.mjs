// @socket.io/redis-adapter on resilis: two Socket.IO servers on two ports of real HTTP servers,
// each with pubClient = the service and subClient = service.duplicate(), and socket.io-client
// clients. The adapter's payloads are msgpack (binary), so every scenario also checks that pub/sub
// is byte-exact. createAdapter (PUBLISH / PSUBSCRIBE) and createShardedAdapter (SPUBLISH /
// SSUBSCRIBE) each run on a standalone server and on a cluster.
import { describe, test, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { onEachDeployment } from './harness/deployments.mjs';
import { freePort } from './harness/ports.mjs';
import { remember } from './harness/service.mjs';
import { settleWithin, eventually } from './harness/util.mjs';

const require = createRequire(import.meta.url);
const { Server } = require('socket.io');
const { io: connectClient } = require('socket.io-client');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');

/** Resolves with the arguments of the next `event` on `emitter` (within 5 s). */
function next(emitter, event) {
  return settleWithin(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), 5000, `'${event}'`);
}

/** Resolves true if `event` arrives within `ms` ms, false if it does not. */
function arrives(emitter, event, ms = 300) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      resolve(false);
    }, ms);
    const on = () => {
      clearTimeout(timer);
      resolve(true);
    };
    emitter.once(event, on);
  });
}

/** Two Socket.IO servers sharing one adapter kind over `svc`; `scenarios` read the returned context. */
function twoServers(d, makeAdapter, sharded = false) {
  const ctx = { clients: [], sharded };
  ctx.svc = null;
  before(async () => {
    ctx.servers = [];
    ctx.svc = d.svc;
    for (let i = 0; i < 2; i++) {
      const sub = remember(d.svc.duplicate());
      const httpServer = http.createServer();
      const io = new Server(httpServer, { adapter: makeAdapter(d.svc, sub) });
      io.on('connection', (socket) => {
        socket.on('join', (room, ack) => {
          socket.join(room);
          ack();
        });
      });
      const port = await freePort();
      await new Promise((resolve) => httpServer.listen(port, '127.0.0.1', resolve));
      ctx.servers.push({ io, port, httpServer, sub });
    }
    // The adapters subscribe in their constructors without waiting: until the servers count each
    // other, a broadcast may find nobody listening yet.
    const counted = await eventually(async () => (await ctx.servers[0].io.of('/').adapter.serverCount()) === 2, 5000);
    assert.equal(counted, true, 'each server counts the other');
  });
  d.teardown = async () => {
    for (const c of ctx.clients) c.disconnect();
    for (const { io, sub } of ctx.servers || []) {
      await new Promise((resolve) => io.close(() => resolve()));
      // The adapter unsubscribes without waiting; subscribe-family calls run in order, so these
      // settle after its own, before the services are disconnected.
      await Promise.all([sub.unsubscribe(), sub.punsubscribe(), sub.sunsubscribe()]);
    }
  };
  /** A connected client of server `i` (0 or 1). */
  ctx.client = async (i) => {
    const c = connectClient(`http://127.0.0.1:${ctx.servers[i].port}`, { transports: ['websocket'], forceNew: true });
    ctx.clients.push(c);
    await next(c, 'connect');
    return c;
  };
  return ctx;
}

/**
 * The sharded adapter SSUBSCRIBEs a room's own channel when the room is created, without waiting
 * (as it does on ioredis): a broadcast right after a join can precede the subscription. Waits
 * until the channel of `room` has a subscriber; the classic adapter has no per-room channels.
 */
async function roomSubscribed(ctx, room) {
  if (!ctx.sharded) return;
  const channel = `socket.io#/#${room}#`;
  const subscribed = await eventually(async () => (await ctx.svc.call('PUBSUB', 'SHARDNUMSUB', channel))[1] >= 1, 5000);
  assert.equal(subscribed, true, `${channel} has a subscriber`);
}

function scenarios(ctx) {
  test('a broadcast from server A reaches a client of server B', async () => {
    const onB = await ctx.client(1);
    const got = next(onB, 'news');
    ctx.servers[0].io.emit('news', 'hello', { n: 1, text: 'ünïcödé' });
    assert.deepEqual(await got, ['hello', { n: 1, text: 'ünïcödé' }]);
  });

  test('binary arguments cross servers byte for byte', async () => {
    const onB = await ctx.client(1);
    const bytes = Buffer.from([0xff, 0x00, 0xc3, 0x28, 0x80, 0xfe]);
    const got = next(onB, 'blob');
    ctx.servers[0].io.emit('blob', bytes);
    const [received] = await got;
    assert.deepEqual(Buffer.from(received), bytes);
  });

  test('rooms: a broadcast to a room reaches its members on the other server, no one else', async () => {
    const member = await ctx.client(1);
    const outsider = await ctx.client(1);
    await member.emitWithAck('join', 'room-a');
    await roomSubscribed(ctx, 'room-a');
    const got = next(member, 'in-room');
    const leaked = arrives(outsider, 'in-room', 500);
    ctx.servers[0].io.to('room-a').emit('in-room', 42);
    assert.deepEqual(await got, [42]);
    assert.equal(await leaked, false, 'a client outside the room got the message');
  });

  test('fetchSockets() on A lists the sockets of B with their rooms', async () => {
    const onB = await ctx.client(1);
    await onB.emitWithAck('join', 'room-f');
    const sockets = await ctx.servers[0].io.in('room-f').fetchSockets();
    assert.deepEqual(sockets.map((s) => s.id), [onB.id]);
    assert.ok(sockets[0].rooms.has('room-f'));
  });

  test('serverSideEmit reaches the other server, with acknowledgements', async () => {
    const got = next(ctx.servers[1].io, 'ping-b');
    ctx.servers[0].io.serverSideEmit('ping-b', 'from-a');
    assert.deepEqual(await got, ['from-a']);
    ctx.servers[1].io.once('ask', (question, ack) => ack(`answer to ${question}`));
    const answers = await ctx.servers[0].io.serverSideEmitWithAck('ask', 'q1');
    assert.deepEqual(answers, ['answer to q1']);
  });
}

describe('createAdapter', () => {
  onEachDeployment((d) => scenarios(twoServers(d, (pub, sub) => createAdapter(pub, sub))));
});

describe('createShardedAdapter', () => {
  onEachDeployment((d) => scenarios(twoServers(d, (pub, sub) => createShardedAdapter(pub, sub), true)));
});
