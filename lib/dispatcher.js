'use strict';
// The one call path from JS to Rust. Commands issued in the same tick are
// sent in one native call; results come back in batches: one wake-up,
// then `drain()` settles every ready promise.

const { makeError } = require('./errors');

const FLAG_BUFFERS = 1;

const PACK_NIL = 0xffffff;

/** A packed array reply (see src/binding/reply.rs `packed_array`). */
function unpack(s) {
  const len = (p) => (s.charCodeAt(p) << 16) | (s.charCodeAt(p + 1) << 8) | s.charCodeAt(p + 2);
  const n = len(0);
  const out = new Array(n);
  let at = 3 + 3 * n;
  for (let i = 0; i < n; i++) {
    const l = len(3 + 3 * i);
    if (l === PACK_NIL) {
      out[i] = null;
    } else {
      out[i] = s.slice(at, at + l);
      at += l;
    }
  }
  return out;
}

class Dispatcher {
  constructor(native) {
    this.native = native;
    this.pending = new Map();
    this.nextId = 1;
    this.batch = [];
    this.flushScheduled = false;
    this.flush = () => this.flushBatch();
    /** (name, payloadJson) for core events; set by the service. */
    this.onEvent = null;
    /** (kind, channel, pattern, payload) for pub/sub messages; set by the service. */
    this.onMessage = null;
    // fred's sockets live in tokio, not in Node's loop: a ref'd timer keeps
    // the process alive exactly while promises are pending.
    this.keepAlive = setInterval(() => {}, 1 << 30);
    this.keepAlive.unref();
  }

  id() {
    const id = this.nextId;
    this.nextId = id >= 0xfffffffe ? 1 : id + 1;
    return id;
  }

  track(resolve, reject) {
    const id = this.id();
    this.pending.set(id, { resolve, reject });
    if (this.pending.size === 1) this.keepAlive.ref();
    return id;
  }

  /** One command; `args` is an array of strings, numbers or Buffers. */
  send(name, args, flags = 0) {
    return new Promise((resolve, reject) => {
      const id = this.track(resolve, reject);
      const b = this.batch;
      b.push(id, flags, name, args.length);
      for (let i = 0; i < args.length; i++) b.push(args[i]);
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        process.nextTick(this.flush);
      }
    });
  }

  flushBatch() {
    this.flushScheduled = false;
    const b = this.batch;
    if (b.length === 0) return;
    this.batch = [];
    try {
      this.native.submit(b);
    } catch (err) {
      for (let i = 0; i < b.length; ) {
        const id = b[i];
        const argc = b[i + 3];
        this.settleError(id, 'ERR_RESILIS_INTERNAL', String(err && err.message), 'no');
        i += 4 + argc;
      }
    }
  }

  /** Pipelines and transactions: `cmds` is [[name, args], ...]. */
  sendGroup(cmds, transaction, flags = 0) {
    this.flushBatch(); // keep order with commands issued earlier this tick
    return new Promise((resolve, reject) => {
      const id = this.track(resolve, reject);
      const flat = [];
      for (const [name, args] of cmds) {
        flat.push(name, args.length);
        for (let i = 0; i < args.length; i++) flat.push(args[i]);
      }
      try {
        this.native.submitGroup(id, flags, transaction, flat);
      } catch (err) {
        this.settleError(id, 'ERR_RESILIS_INTERNAL', String(err && err.message), 'no');
      }
    });
  }

  /** Lifecycle calls (connect, disconnect, ...) settle like commands. */
  lifecycle(method) {
    return this.lifecycleWith(method);
  }

  /** A lifecycle call with arguments (`pubsub(id, op, names)`). */
  lifecycleWith(method, ...args) {
    this.flushBatch();
    return new Promise((resolve, reject) => {
      const id = this.track(resolve, reject);
      try {
        this.native[method](id, ...args);
      } catch (err) {
        this.settleError(id, 'ERR_RESILIS_INTERNAL', String(err && err.message), 'no');
      }
    });
  }

  settleError(id, code, message, sent) {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.reject(makeError(code, message, sent));
    if (this.pending.size === 0) this.keepAlive.unref();
  }

  /** Called by the native side (one wake-up per batch of results). */
  onWake(results) {
    // From Node's loop the results come along; a threadsafe wake-up brings none.
    const out = Array.isArray(results) ? results : this.native.drain();
    for (let i = 0; i < out.length; i += 3) {
      if (out[i + 1] === 3) {
        if (this.onEvent) this.onEvent(out[i + 2][0], out[i + 2][1]);
        continue;
      }
      if (out[i + 1] === 4) {
        const m = out[i + 2]; // [kind, channel, pattern | null, payload]
        if (this.onMessage) this.onMessage(m[0], m[1], m[2], m[3]);
        continue;
      }
      const p = this.pending.get(out[i]);
      if (p === undefined) continue;
      this.pending.delete(out[i]);
      const status = out[i + 1];
      const value = out[i + 2];
      if (status === 1) p.reject(makeError(value[0], value[1], value[2]));
      else if (status === 5) p.resolve(unpack(value));
      else p.resolve(value);
    }
    if (this.pending.size === 0) this.keepAlive.unref();
  }
}

module.exports = { Dispatcher, FLAG_BUFFERS };
