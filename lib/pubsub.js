'use strict';
// Pub/sub receiving on RedisService, ioredis style: `subscribe(channel | channels[], callback?)`
// resolves the number of subscriptions held; every message calls the channel's callbacks with
// (message, channel) and emits 'message' (channel, message), 'pmessage' (pattern, channel, message)
// or 'smessage' (channel, message) on the service. The core holds one subscriber connection per
// service (its own: subscribing never blocks other commands) and subscribes again after every
// reconnect. Messages reach JS through the same completion queue as replies, on the JS thread.
//
// Liveness: while at least one subscription is held, a ref'd timer keeps the process alive (as an
// ioredis subscriber's socket does); unsubscribing from everything, or disconnect(), releases it.

const { argumentError } = require('./errors');

const KINDS = {
  channel: { on: 'subscribe', off: 'unsubscribe' },
  pattern: { on: 'psubscribe', off: 'punsubscribe' },
  shard: { on: 'ssubscribe', off: 'sunsubscribe' },
};

/** (name | names[] | ...names, listener?) -> { names, listener }. */
function parseArgs(args, method, requireName) {
  let listener;
  if (args.length > 0 && typeof args[args.length - 1] === 'function') listener = args[args.length - 1];
  const rest = listener ? args.slice(0, -1) : args;
  const names = [];
  for (const a of rest.flat()) {
    if (typeof a === 'string' && a.length > 0) names.push(a);
    else if (Buffer.isBuffer(a) && a.length > 0) names.push(a.toString('utf8'));
    else if (a !== undefined && a !== null) throw argumentError(`${method}: channel names must be non-empty strings, got ${typeof a}`);
  }
  if (requireName && names.length === 0) throw argumentError(`${method}: expected a channel (or an array of channels)`);
  return { names, listener };
}

class Subscriptions {
  constructor(service) {
    this.service = service;
    /** kind -> Map(name -> Set(listener)) */
    this.held = { channel: new Map(), pattern: new Map(), shard: new Map() };
    // Subscribe-family calls run one after another: an unsubscribe never overtakes the subscribe before it.
    this.chain = Promise.resolve();
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  size() {
    return this.held.channel.size + this.held.pattern.size + this.held.shard.size;
  }

  updateLiveness() {
    if (this.size() > 0) this.keepAlive.ref();
    else this.keepAlive.unref();
  }

  native(op, names) {
    const run = () => this.service._dispatcher.lifecycleWith('pubsub', op, names);
    const p = this.chain.then(run, run);
    this.chain = p.then(() => {}, () => {});
    return p;
  }

  async add(kind, names, listener) {
    const map = this.held[kind];
    const added = [];
    for (const n of names) {
      let set = map.get(n);
      if (!set) map.set(n, (set = new Set()));
      if (listener && !set.has(listener)) {
        set.add(listener);
        added.push(n);
      }
    }
    this.updateLiveness();
    try {
      return Number(await this.native(KINDS[kind].on, names));
    } catch (err) {
      for (const n of names) {
        const set = map.get(n);
        if (!set) continue;
        if (added.includes(n)) set.delete(listener);
        if (set.size === 0) map.delete(n);
      }
      this.updateLiveness();
      throw err;
    }
  }

  /** No names: every one of this kind. A listener: only it; the channel goes when none is left. */
  async remove(kind, names, listener) {
    const map = this.held[kind];
    const targets = names.length > 0 ? names : [...map.keys()];
    const drop = [];
    for (const n of targets) {
      const set = map.get(n);
      if (listener && set) set.delete(listener);
      if (!listener || !set || set.size === 0) {
        map.delete(n);
        drop.push(n);
      }
    }
    this.updateLiveness();
    if (drop.length === 0) return kind === 'shard' ? this.held.shard.size : this.held.channel.size + this.held.pattern.size;
    return Number(await this.native(KINDS[kind].off, drop));
  }

  /** Called from the dispatcher for each message (status 4). */
  deliver(kind, channel, pattern, payload) {
    const service = this.service;
    let listeners;
    if (kind === 'pmessage') {
      listeners = this.held.pattern.get(pattern);
      service.emit('pmessage', pattern, channel, payload);
    } else if (kind === 'smessage') {
      listeners = this.held.shard.get(channel);
      service.emit('smessage', channel, payload);
    } else {
      listeners = this.held.channel.get(channel);
      service.emit('message', channel, payload);
    }
    if (!listeners) return;
    for (const fn of listeners) {
      try {
        if (kind === 'pmessage') fn(payload, channel, pattern);
        else fn(payload, channel);
      } catch (err) {
        // A throwing callback must not stop the other messages of the batch.
        if (service.listenerCount('error') > 0) service.emit('error', err);
        else process.nextTick(() => { throw err; });
      }
    }
  }

  /** disconnect(): the core closed the subscriber; nothing is held any more. */
  reset() {
    for (const m of Object.values(this.held)) m.clear();
    this.updateLiveness();
  }
}

function subs(service) {
  if (!service._subs) service._subs = new Subscriptions(service);
  return service._subs;
}

function installPubSub(proto) {
  const on = (kind, method) => function (...args) {
    try {
      const { names, listener } = parseArgs(args, method, true);
      return subs(this).add(kind, names, listener);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const off = (kind, method) => function (...args) {
    try {
      const { names, listener } = parseArgs(args, method, false);
      if (!this._subs) return Promise.resolve(0);
      return this._subs.remove(kind, names, listener);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  proto.subscribe = on('channel', 'subscribe');
  proto.psubscribe = on('pattern', 'psubscribe');
  proto.ssubscribe = on('shard', 'ssubscribe');
  proto.unsubscribe = off('channel', 'unsubscribe');
  proto.punsubscribe = off('pattern', 'punsubscribe');
  proto.sunsubscribe = off('shard', 'sunsubscribe');
  // node-redis (v4) names.
  proto.pSubscribe = proto.psubscribe;
  proto.sSubscribe = proto.ssubscribe;
  proto.pUnsubscribe = proto.punsubscribe;
  proto.sUnsubscribe = proto.sunsubscribe;
}

module.exports = { installPubSub, subs };
