'use strict';
// Pub/sub receiving on RedisService, ioredis style: `subscribe(channel | channels[], callback?)`
// resolves the number of subscriptions held; every message calls the channel's callbacks with
// (message, channel) and emits 'message' (channel, message), 'pmessage' (pattern, channel, message)
// or 'smessage' (channel, message) on the service. The core holds one subscriber connection per
// service (its own: subscribing never blocks other commands) and subscribes again after every
// reconnect. Messages reach JS through the same completion queue as replies, on the JS thread.
//
// Bytes: messages are binary-safe. 'messageBuffer' (channel, message), 'pmessageBuffer' (pattern,
// channel, message) and 'smessageBuffer' (channel, message) give Buffers (the pattern stays a
// string, as in ioredis), and so do callbacks subscribed with node-redis' trailing `bufferMode`
// (`subscribe(channels, listener, true)`). The core makes only the forms someone listens for:
// strings for string listeners, Buffers for Buffer listeners (setMessageForms).
//
// Liveness: while at least one subscription is held, a ref'd timer keeps the process alive (as an
// ioredis subscriber's socket does); unsubscribing from everything, or disconnect(), releases it.

const { argumentError } = require('./errors');
const { FORM_STRINGS, FORM_BUFFERS } = require('../binding.js');

const KINDS = {
  channel: { on: 'subscribe', off: 'unsubscribe' },
  pattern: { on: 'psubscribe', off: 'punsubscribe' },
  shard: { on: 'ssubscribe', off: 'sunsubscribe' },
};

// The service's message events, by the form they carry (FORM_* bits, from the binding).
const EVENT_FORMS = {
  message: FORM_STRINGS, pmessage: FORM_STRINGS, smessage: FORM_STRINGS,
  messageBuffer: FORM_BUFFERS, pmessageBuffer: FORM_BUFFERS, smessageBuffer: FORM_BUFFERS,
};

/** (name | names[] | ...names, listener?, bufferMode?) -> { names, listener, buffers }. */
function parseArgs(args, method, requireName) {
  let listener;
  let end = args.length;
  // Trailing undefined: a wrapper passing (channels, listener, undefined) on.
  const trim = () => { while (end > 0 && args[end - 1] === undefined) end--; };
  trim();
  // node-redis: subscribe(channels, listener, bufferMode); a boolean is never a channel.
  const buffers = end > 0 && typeof args[end - 1] === 'boolean' ? args[--end] : false;
  trim();
  if (end > 0 && typeof args[end - 1] === 'function') listener = args[--end];
  const rest = args.slice(0, end);
  const names = [];
  for (const a of rest.flat()) {
    if (typeof a === 'string' && a.length > 0) names.push(a);
    else if (Buffer.isBuffer(a) && a.length > 0) names.push(a.toString('utf8'));
    else if (a !== undefined && a !== null) throw argumentError(`${method}: channel names must be non-empty strings, got ${typeof a}`);
  }
  if (requireName && names.length === 0) throw argumentError(`${method}: expected a channel (or an array of channels)`);
  return { names, listener, buffers };
}

/** A message's payload in the form a listener wants; the other form only if a listener was
 * added after the core made this message (then a string may have lost invalid UTF-8). */
const asString = (s, b) => (s !== null ? s : b.toString());
const asBuffer = (b, s) => (b !== null ? b : Buffer.from(s));

class Subscriptions {
  constructor(service) {
    this.service = service;
    /** kind -> Map(name -> { strings: Set(listener), buffers: Set(listener) }) */
    this.held = { channel: new Map(), pattern: new Map(), shard: new Map() };
    /** Callbacks held, by form: what the core must make (with the service's events). */
    this.counts = { strings: 0, buffers: 0 };
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
    updateForms(this.service);
  }

  native(op, names) {
    const run = () => this.service._dispatcher.lifecycleWith('pubsub', op, names);
    const p = this.chain.then(run, run);
    this.chain = p.then(() => {}, () => {});
    return p;
  }

  /** Drops `listener` (of the form `buffers` says) from `entry`; without one, every listener. */
  forget(entry, listener, buffers) {
    if (listener) {
      const form = buffers ? 'buffers' : 'strings';
      if (entry[form].delete(listener)) this.counts[form] -= 1;
      return;
    }
    for (const form of ['strings', 'buffers']) {
      this.counts[form] -= entry[form].size;
      entry[form].clear();
    }
  }

  async add(kind, names, listener, buffers) {
    const map = this.held[kind];
    const form = buffers ? 'buffers' : 'strings';
    const added = [];
    for (const n of names) {
      let entry = map.get(n);
      if (!entry) map.set(n, (entry = { strings: new Set(), buffers: new Set() }));
      if (listener && !entry[form].has(listener)) {
        entry[form].add(listener);
        this.counts[form] += 1;
        added.push(n);
      }
    }
    this.updateLiveness();
    try {
      return Number(await this.native(KINDS[kind].on, names));
    } catch (err) {
      for (const n of names) {
        const entry = map.get(n);
        if (!entry) continue;
        if (added.includes(n)) this.forget(entry, listener, buffers);
        if (entry.strings.size + entry.buffers.size === 0) map.delete(n);
      }
      this.updateLiveness();
      throw err;
    }
  }

  /** No names: every one of this kind. A listener: only it; the channel goes when none is left. */
  async remove(kind, names, listener, buffers) {
    const map = this.held[kind];
    const targets = names.length > 0 ? names : [...map.keys()];
    const drop = [];
    for (const n of targets) {
      const entry = map.get(n);
      if (entry) this.forget(entry, listener, buffers);
      if (!listener || !entry || entry.strings.size + entry.buffers.size === 0) {
        map.delete(n);
        drop.push(n);
      }
    }
    this.updateLiveness();
    if (drop.length === 0) {
      // Nothing to send, but it still settles after the calls before it.
      const held = () => (kind === 'shard' ? this.held.shard.size : this.held.channel.size + this.held.pattern.size);
      return this.chain.then(held);
    }
    return Number(await this.native(KINDS[kind].off, drop));
  }

  /** Called from the dispatcher for each message (CompletionStatus.Message): [kind, channel, pattern, payload,
   * channelBuffer, patternBuffer, payloadBuffer], the forms not asked for null. */
  deliver(m) {
    const service = this.service;
    const [kind, channelText, patternText, payload, channelBuf, patternBuf, payloadBuf] = m;
    const channel = channelText !== null ? channelText : channelBuf && channelBuf.toString();
    const pattern = patternText !== null ? patternText : patternBuf && patternBuf.toString();
    let entry;
    if (kind === 'pmessage') {
      entry = this.held.pattern.get(pattern);
      if (payload !== null) service.emit('pmessage', pattern, channel, payload);
      if (payloadBuf !== null) service.emit('pmessageBuffer', pattern, channelBuf, payloadBuf);
    } else if (kind === 'smessage') {
      entry = this.held.shard.get(channel);
      if (payload !== null) service.emit('smessage', channel, payload);
      if (payloadBuf !== null) service.emit('smessageBuffer', channelBuf, payloadBuf);
    } else {
      entry = this.held.channel.get(channel);
      if (payload !== null) service.emit('message', channel, payload);
      if (payloadBuf !== null) service.emit('messageBuffer', channelBuf, payloadBuf);
    }
    if (!entry) return;
    const pmessage = kind === 'pmessage';
    for (const fn of entry.strings) {
      this.call(fn, asString(payload, payloadBuf), channel, pmessage ? pattern : undefined);
    }
    for (const fn of entry.buffers) {
      const p = pmessage ? asBuffer(patternBuf, pattern) : undefined;
      this.call(fn, asBuffer(payloadBuf, payload), asBuffer(channelBuf, channel), p);
    }
  }

  call(fn, payload, channel, pattern) {
    try {
      if (pattern !== undefined) fn(payload, channel, pattern);
      else fn(payload, channel);
    } catch (err) {
      // A throwing callback must not stop the other messages of the batch.
      if (this.service.listenerCount('error') > 0) this.service.emit('error', err);
      else process.nextTick(() => { throw err; });
    }
  }

  /** disconnect(): the core closed the subscriber; nothing is held any more. */
  reset() {
    for (const m of Object.values(this.held)) m.clear();
    this.counts = { strings: 0, buffers: 0 };
    this.updateLiveness();
  }
}

/** Tells the core which forms to make: those of the callbacks held and of the service's message
 * events (`adding`: an event whose listener is about to be added). */
function updateForms(service, adding) {
  let forms = EVENT_FORMS[adding] || 0;
  if (service._subs) {
    if (service._subs.counts.strings > 0) forms |= FORM_STRINGS;
    if (service._subs.counts.buffers > 0) forms |= FORM_BUFFERS;
  }
  for (const [event, form] of Object.entries(EVENT_FORMS)) {
    if ((forms & form) === 0 && service.listenerCount(event) > 0) forms |= form;
  }
  if (forms !== service._messageForms) {
    service._messageForms = forms;
    service._native.setMessageForms(forms);
  }
}

/** Follows the service's message event listeners (called once, by the constructor). */
function watchMessageListeners(service) {
  service._messageForms = FORM_STRINGS; // the core's default
  const onNew = (event) => {
    if (EVENT_FORMS[event]) updateForms(service, event);
  };
  const onRemove = (event, listener) => {
    if (EVENT_FORMS[event]) updateForms(service);
    // removeAllListeners() takes these hooks too: they come back once it has returned.
    else if (listener === onNew) process.nextTick(reinstall);
  };
  const reinstall = () => {
    if (!service.listeners('newListener').includes(onNew)) service.on('newListener', onNew);
    if (!service.listeners('removeListener').includes(onRemove)) service.on('removeListener', onRemove);
    updateForms(service);
  };
  reinstall();
}

function subs(service) {
  if (!service._subs) service._subs = new Subscriptions(service);
  return service._subs;
}

function installPubSub(proto) {
  const on = (kind, method) => function (...args) {
    try {
      const { names, listener, buffers } = parseArgs(args, method, true);
      return subs(this).add(kind, names, listener, buffers);
    } catch (err) {
      return Promise.reject(err);
    }
  };
  const off = (kind, method) => function (...args) {
    try {
      const { names, listener, buffers } = parseArgs(args, method, false);
      if (!this._subs) return Promise.resolve(0);
      return this._subs.remove(kind, names, listener, buffers);
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

module.exports = { installPubSub, subs, watchMessageListeners };
