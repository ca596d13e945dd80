'use strict';
// The one call path from JS to Rust. Commands issued in the same tick are
// sent in one native call; results come back in batches: one wake-up,
// then `drain()` settles every ready promise.

const { makeError } = require('./errors');
const { PendingTable } = require('./pending');
const { CompletionStatus, FLAG_WATCHED, SERVED_SHIFT } = require('../binding.js');

// What a result's value is (src/binding/boundary.rs), read once from the binding.
const { Error: STATUS_ERROR, Event: STATUS_EVENT, Message: STATUS_MESSAGE, Packed: STATUS_PACKED, ServedGroup: STATUS_SERVED_GROUP } =
  CompletionStatus;
/** A watched command's status: the status in the low bits, who served it above (lib/observe.js). */
const STATUS_MASK = (1 << SERVED_SHIFT) - 1;

/** In the packed layout, an argument that is not a string: its index in `others`. */
const OTHER = 0x80000000;
/**
 * Longer strings go aside too: concatenated, V8 would copy them once more when
 * it flattens the tick's string (a 16 KiB SET paid twice).
 */
const INLINE_MAX = 1024;

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

/**
 * Drops a settled entry's resolvers. An entry that lived long enough to be
 * tenured stays in the old generation until the next full GC; through its
 * resolvers it would keep the promise, and the promise its value, alive
 * across every scavenge in between (a 16 KiB GET then promoted every value
 * it read and ran full GCs back to back).
 */
function forget(p) {
  p.resolve = null;
  p.reject = null;
  p.obs = null;
}

class Dispatcher {
  constructor(native) {
    this.native = native;
    /** `submit(text, ints, n, others?)`: a bare native function (src/binding/submit.rs). */
    this.submit = native.submitFunction();
    this.pending = new PendingTable();
    this.nextId = 1;
    // The tick's commands, packed (see src/binding/packed.rs): the strings
    // in one concatenation, their lengths in one typed array, anything else
    // (numbers, Buffers, long strings, bad values) aside.
    this.text = '';
    this.ints = new Uint32Array(1024);
    this.n = 0;
    this.others = [];
    this.flushScheduled = false;
    this.flush = () => this.flushBatch();
    /** lib/observe.js (tracing channels, audit), set by the service; asked once per batch. */
    this.observer = null;
    /** This tick's batch is watched: each command gets a record. */
    this.watched = false;
    /** (name, payloadJson) for core events; set by the service. */
    this.onEvent = null;
    /** ([kind, channel, pattern, payload, channelBuffer, patternBuffer, payloadBuffer]) for pub/sub
     * messages (see lib/pubsub.js); set by the service. */
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

  track(resolve, reject, obs = null) {
    const id = this.id();
    this.pending.add({ id, resolve, reject, obs });
    if (this.pending.size === 1) this.keepAlive.ref();
    return id;
  }

  /** True when no command waits for this tick's flush. */
  get idle() {
    return this.n === 0;
  }

  /** One command; `args` is an array of strings, numbers or Buffers. */
  send(name, args, flags = 0) {
    if (typeof name !== 'string' || name.length === 0) {
      return Promise.reject(makeError('ERR_RESILIS_ARGUMENT', 'the command name must be a non-empty string', 'no'));
    }
    return new Promise((resolve, reject) => {
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        this.watched = this.observer !== null && this.observer.watching();
        process.nextTick(this.flush);
      }
      const obs = this.watched ? this.observer.begin(name, args) : null;
      const id = this.track(resolve, reject, obs);
      let ints = this.ints;
      let n = this.n;
      if (n + 4 + args.length > ints.length) ints = this.grow(n + 4 + args.length);
      ints[n++] = id;
      ints[n++] = obs === null ? flags : flags | FLAG_WATCHED;
      ints[n++] = args.length + 1;
      ints[n++] = name.length;
      let text = this.text + name;
      for (let i = 0; i < args.length; i++) {
        const a = args[i];
        if (typeof a === 'string' && a.length <= INLINE_MAX) {
          ints[n++] = a.length;
          text += a;
        } else {
          ints[n++] = OTHER | this.others.length;
          this.others.push(a);
        }
      }
      this.text = text;
      this.n = n;
    });
  }

  grow(needed) {
    const bigger = new Uint32Array(Math.max(needed, this.ints.length * 2));
    bigger.set(this.ints.subarray(0, this.n));
    this.ints = bigger;
    return bigger;
  }

  flushBatch() {
    this.flushScheduled = false;
    const n = this.n;
    if (this.watched) {
      this.watched = false;
      this.observer.flushTick();
    }
    if (n === 0) return;
    const { text, ints, others } = this;
    this.text = '';
    this.n = 0;
    const hasOthers = others.length > 0;
    if (hasOthers) this.others = [];
    try {
      this.submit(text, ints, n, hasOthers ? others : undefined);
    } catch (err) {
      for (let i = 0; i < n; i += 3 + ints[i + 2]) {
        this.settleError(ints[i], 'ERR_RESILIS_INTERNAL', String(err && err.message), 'no');
      }
    }
  }

  /** Pipelines and transactions: `cmds` is [[name, args], ...]. */
  sendGroup(cmds, transaction, flags = 0) {
    this.flushBatch(); // keep order with commands issued earlier this tick
    const obs = this.observer !== null && this.observer.watching() ? this.observer.beginGroup(cmds, transaction) : null;
    return new Promise((resolve, reject) => {
      const id = this.track(resolve, reject, obs);
      const flat = [];
      for (const [name, args] of cmds) {
        flat.push(name, args.length);
        for (let i = 0; i < args.length; i++) flat.push(args[i]);
      }
      try {
        this.native.submitGroup(id, obs === null ? flags : flags | FLAG_WATCHED, transaction, flat);
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
    const p = this.pending.take(id);
    if (p === undefined) return;
    const err = makeError(code, message, sent);
    if (p.obs !== null) this.observer.end(p.obs, false, err);
    p.reject(err);
    forget(p);
    if (this.pending.size === 0) this.keepAlive.unref();
  }

  /**
   * Called by the native side (one wake-up per batch of results): from
   * Node's loop `(id, status, value)` for one result or `([id, status,
   * value, ...])` for more; a threadsafe wake-up brings none (then drain).
   */
  onWake(results, status, value) {
    if (typeof results === 'number') {
      this.settle(results, status, value);
    } else {
      const out = Array.isArray(results) ? results : this.native.drain();
      for (let i = 0; i < out.length; i += 3) this.settle(out[i], out[i + 1], out[i + 2]);
    }
    if (this.pending.size === 0) this.keepAlive.unref();
  }

  /** One result; `status` a CompletionStatus: a value, an error triple, a group, an event, a message or a packed array. */
  settle(id, status, value) {
    if (status === STATUS_EVENT) {
      if (this.onEvent) this.onEvent(value[0], value[1]);
      return;
    }
    if (status === STATUS_MESSAGE) {
      if (this.onMessage) this.onMessage(value);
      return;
    }
    const p = this.pending.take(id);
    if (p === undefined) return;
    if (p.obs !== null) {
      this.settleObserved(p, status, value);
      return;
    }
    if (status === STATUS_ERROR) p.reject(makeError(value[0], value[1], value[2]));
    else if (status === STATUS_PACKED) p.resolve(unpack(value));
    else p.resolve(value);
    forget(p);
  }

  /**
   * settle() of a watched command: the observer hears the outcome, and who
   * served it (a code in the status, or one per command of a group), before the caller.
   */
  settleObserved(p, status, value) {
    let served = status >>> SERVED_SHIFT;
    status &= STATUS_MASK;
    if (status === STATUS_ERROR) {
      const err = makeError(value[0], value[1], value[2]);
      this.observer.end(p.obs, false, err, served);
      p.reject(err);
    } else {
      let v = value;
      if (status === STATUS_PACKED) v = unpack(value);
      else if (status === STATUS_SERVED_GROUP) [v, served] = value;
      this.observer.end(p.obs, true, v, served);
      p.resolve(v);
    }
    forget(p);
  }
}

module.exports = { Dispatcher };
